// Side-effect import first: it must run before jax-js loads (it sets up the wasm thread pool).
import "./node-threads.js";
import { type Device, defaultDevice, init as jaxInit } from "@jax-js/jax";
import { OptionError } from "./errors.js";
import { requestedThreads } from "./node-threads.js";

/** Options of {@link init}. */
export interface InitOptions {
  /** Force a device. Default: "webgpu" when a browser offers it, else "wasm". */
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

/** Start jax-js and select its default device. Safe to call more than once. */
export async function init(options: InitOptions = {}): Promise<EngineInfo> {
  const wanted = options.device ?? (hasWebGpu() ? "webgpu" : "wasm");
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
