// Side-effect import first: it must run before jax-js loads (it sets up the wasm thread pool).
import "./node-threads.js";
import { type Device, defaultDevice, init as jaxInit, numpy } from "@jax-js/jax";
import { OptionError, UsageError } from "./errors.js";
import { requestedThreads } from "./node-threads.js";

/** Options of {@link init}. */
export interface InitOptions {
  /**
   * Force a device. Default: "webgpu" when a browser offers it, else "wasm"; in Node,
   * `RANKWISE_BACKEND=webgpu` asks for WebGPU through Dawn's Node binding (the optional `webgpu`
   * package), falling back to wasm with one line on stderr when there is no usable adapter (Dawn is
   * asked in a child process first, so that its native warnings never reach this process's stderr).
   */
  device?: "wasm" | "webgpu" | "cpu";
}

/** What {@link init} started: the device and, for wasm, its thread count. */
export interface EngineInfo {
  device: Device;
  /** Wasm threads in use (1 = single-threaded; set RANKWISE_THREADS before import in Node). */
  threads: number;
}

const hasWebGpu = () =>
  typeof navigator !== "undefined" && (navigator as { gpu?: unknown }).gpu !== undefined;

const nodeProcess = (globalThis as { process?: NodeJS.Process }).process;
// Variables, so that bundlers and TypeScript leave the optional package and Node's modules alone.
const DAWN_PACKAGE = "webgpu";
const CHILD_PROCESS = "node:child_process";

// Run in a child Node: asks Dawn (argv[1]: the package's URL) for an adapter, says which.
const DAWN_PROBE = `const { create, globals } = await import(process.argv[1]);
Object.assign(globalThis, globals);
const adapter = await create([]).requestAdapter();
process.stdout.write(adapter ? "adapter" : "none");
process.exit(0);`;

/** RANKWISE_BACKEND (Node only): "wasm", "webgpu", or undefined when unset. */
function backendFromEnv(): "wasm" | "webgpu" | undefined {
  if (nodeProcess?.versions?.node === undefined) return undefined;
  const value = nodeProcess.env.RANKWISE_BACKEND;
  if (value === undefined || value.trim() === "") return undefined;
  if (value === "wasm" || value === "webgpu") return value;
  throw new UsageError(`RANKWISE_BACKEND must be wasm or webgpu, got "${value}"`);
}

/**
 * Whether Dawn finds an adapter, asked in a child process: without one, Dawn's native code writes
 * warnings ("Couldn't load Vulkan: libvulkan.so.1 ...") straight to file descriptor 2, which Node
 * cannot silence in-process, so the child's stderr is kept and its first line quoted in ours.
 * Returns null when there is an adapter, else why not. Costs one Node start (~0.2 s).
 */
async function probeDawn(specifier: string): Promise<string | null> {
  const { execFile } = (await import(CHILD_PROCESS)) as typeof import("node:child_process");
  return new Promise((resolve) => {
    execFile(
      nodeProcess!.execPath,
      ["--input-type=module", "-e", DAWN_PROBE, specifier],
      { encoding: "utf8", timeout: 60_000 },
      (_error, stdout, stderr) => {
        if (stdout === "adapter") return resolve(null);
        const first = stderr
          .split("\n")
          .map((l) => l.trim())
          .find((l) => l !== "")
          ?.replace(/^Warning:\s*/, "");
        resolve(`Dawn found no usable WebGPU adapter${first ? ` (${first})` : ""}`);
      },
    );
  });
}

/**
 * Give Node a `navigator.gpu` from Dawn's binding (the `webgpu` package: `create` and the
 * WebGPU globals), which jax-js's webgpu backend asks for an adapter. Returns why not, or null.
 */
async function installDawn(): Promise<string | null> {
  if (hasWebGpu()) return null;
  let dawn: { create(flags: string[]): unknown; globals: Record<string, unknown> };
  let specifier = DAWN_PACKAGE;
  try {
    specifier = import.meta.resolve?.(DAWN_PACKAGE) ?? DAWN_PACKAGE;
    const problem = await probeDawn(specifier);
    if (problem !== null) return problem;
    dawn = await import(specifier);
  } catch {
    return `the "${DAWN_PACKAGE}" package (Dawn's Node binding) is not installed`;
  }
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create([]);
  const nav = (globalThis as { navigator?: object }).navigator;
  if (nav === undefined) Object.assign(globalThis, { navigator: { gpu } });
  else Object.defineProperty(nav, "gpu", { value: gpu, configurable: true });
  return null;
}

let fallbackSaid = false; // the fallback line is said once per process
let dawnInstalled: Promise<string | null> | undefined; // Dawn is probed once per process

/** Start jax-js and select its default device. Safe to call more than once. */
export async function init(options: InitOptions = {}): Promise<EngineInfo> {
  let wanted = options.device ?? (hasWebGpu() ? "webgpu" : "wasm");
  if (options.device === undefined && backendFromEnv() === "webgpu") {
    dawnInstalled ??= installDawn();
    let problem = await dawnInstalled;
    if (problem === null) {
      if ((await jaxInit("webgpu")).includes("webgpu")) {
        defaultDevice("webgpu");
        return { device: "webgpu", threads: 1 };
      }
      problem = "Dawn found no usable WebGPU adapter";
    }
    if (!fallbackSaid) {
      nodeProcess!.stderr.write(`rankwise: RANKWISE_BACKEND=webgpu: ${problem}; using wasm\n`);
      fallbackSaid = true;
    }
    wanted = "wasm";
  }
  const available = await jaxInit(wanted);
  const device = available.includes(wanted) ? wanted : "wasm";
  if (options.device !== undefined && device !== options.device) {
    throw new OptionError(
      `device "${options.device}" is not available here (available: ${available})`,
    );
  }
  defaultDevice(device);
  if (device === "wasm" && requestedThreads > 1) await startThreadPool();
  return { device, threads: device === "wasm" ? requestedThreads : 1 };
}

/**
 * Start the wasm workers now and wait until they are idle: the patched engine dispatches
 * synchronously (the calling thread runs a share of each kernel and waits for the workers on
 * shared memory) only once its pool is up with no asynchronous work in flight.
 */
async function startThreadPool(): Promise<void> {
  await numpy.ones([4096]).add(1).data();
}
