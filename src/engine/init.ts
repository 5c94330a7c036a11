// Side-effect import first: it must run before jax-js loads (it sets up the wasm thread pool).
import "./node-threads.js";
import { type Device, defaultDevice, init as jaxInit } from "@jax-js/jax";
import { OptionError, UsageError } from "./errors.js";
import { requestedThreads } from "./node-threads.js";

/** Options of {@link init}. */
export interface InitOptions {
  /**
   * Force a device. Default: "webgpu" when a browser offers it, else "wasm"; in Node,
   * `RANKWISE_BACKEND=webgpu` asks for WebGPU through Dawn's Node binding (the optional `webgpu`
   * package), falling back to wasm with one line on stderr when there is no usable adapter.
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
// A variable, so that bundlers and TypeScript leave the optional package alone.
const DAWN_PACKAGE = "webgpu";

/** RANKWISE_BACKEND (Node only): "wasm", "webgpu", or undefined when unset. */
function backendFromEnv(): "wasm" | "webgpu" | undefined {
  if (nodeProcess?.versions?.node === undefined) return undefined;
  const value = nodeProcess.env.RANKWISE_BACKEND;
  if (value === undefined || value.trim() === "") return undefined;
  if (value === "wasm" || value === "webgpu") return value;
  throw new UsageError(`RANKWISE_BACKEND must be wasm or webgpu, got "${value}"`);
}

/**
 * Give Node a `navigator.gpu` from Dawn's binding (the `webgpu` package: `create` and the
 * WebGPU globals), which jax-js's webgpu backend asks for an adapter. Returns why not, or null.
 */
async function installDawn(): Promise<string | null> {
  if (hasWebGpu()) return null;
  let dawn: { create(flags: string[]): unknown; globals: Record<string, unknown> };
  try {
    dawn = await import(DAWN_PACKAGE);
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

/** Start jax-js and select its default device. Safe to call more than once. */
export async function init(options: InitOptions = {}): Promise<EngineInfo> {
  let wanted = options.device ?? (hasWebGpu() ? "webgpu" : "wasm");
  if (options.device === undefined && backendFromEnv() === "webgpu") {
    let problem = await installDawn();
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
  return { device, threads: device === "wasm" ? requestedThreads : 1 };
}
