/**
 * Test helpers: start the engine once, count live device buffers, read arrays, compare numbers.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { numpy as np } from "@jax-js/jax";
import { init } from "../../src/engine/init.js";

export async function setup(): Promise<void> {
  await init({ device: "wasm" });
}

interface Backend {
  malloc(size: number, initialData?: Uint8Array): number;
  incRef(slot: number): void;
  decRef(slot: number): void;
}

let live: Map<number, number> | null = null;

/**
 * Count the wasm buffers alive right now. jax-js keeps its backend private, so this reaches the
 * backend through the (exactly pinned) package's chunk module and counts malloc/incRef/decRef.
 */
export async function liveBuffers(): Promise<number> {
  if (live === null) {
    const entry = fileURLToPath(import.meta.resolve("@jax-js/jax"));
    const chunk = /from "\.\/(backend-[\w-]+\.js)"/.exec(readFileSync(entry, "utf8"))?.[1];
    if (!chunk) throw new Error("liveBuffers: jax-js backend chunk not found");
    const mod = await import(new URL(chunk, import.meta.resolve("@jax-js/jax")).href);
    const getBackend = Object.values(mod).find(
      (f) => typeof f === "function" && f.name === "getBackend",
    ) as ((d: string) => Backend) | undefined;
    if (!getBackend) throw new Error("liveBuffers: getBackend not found in jax-js chunk");
    const backend = getBackend("wasm");
    const counts = new Map<number, number>();
    const { malloc, incRef, decRef } = backend;
    backend.malloc = (size, data) => {
      const slot = malloc.call(backend, size, data);
      counts.set(slot, 1);
      return slot;
    };
    backend.incRef = (slot) => {
      incRef.call(backend, slot);
      counts.set(slot, (counts.get(slot) ?? 0) + 1);
    };
    backend.decRef = (slot) => {
      decRef.call(backend, slot);
      const n = (counts.get(slot) ?? 0) - 1;
      if (n <= 0) counts.delete(slot);
      else counts.set(slot, n);
    };
    live = counts;
  }
  return live.size;
}

/** Float64 copy of an array's data (borrows the array). */
export function read(a: np.Array): Float64Array {
  return Float64Array.from(a.ref.dataSync() as ArrayLike<number>);
}

/**
 * Largest violation of |actual - expected| <= rtol * |expected| + atol, as a ratio (≤ 1 passes),
 * with the worst index, for readable failures.
 */
export function closeness(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  atol = 0,
): { ratio: number; index: number } {
  if (actual.length !== expected.length) {
    throw new Error(`length ${actual.length} != expected ${expected.length}`);
  }
  let worst = { ratio: 0, index: -1 };
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    const ratio = err / (rtol * Math.abs(expected[i]) + atol);
    if (!(ratio <= worst.ratio))
      worst = { ratio: Number.isNaN(ratio) ? Infinity : ratio, index: i };
  }
  return worst;
}
