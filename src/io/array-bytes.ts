/**
 * jax-js arrays ↔ raw little-endian bytes, bit-exact (NaN payloads, -0 and subnormals survive).
 *
 * Engine quirks handled here (jax-js 0.1.25; candidates to move to src/engine):
 * - float64 arrays are built through src/engine/float64.ts (a Float16Array check on Node 20).
 * - float16 arrays need a real Float16Array to be read or built (and the wasm backend cannot
 *   compute with them): without one they cannot be encoded; callers decode F16 data to float32.
 * - bool arrays hold one int32 per element; files hold one byte (0 or 1).
 * - jax-js cannot build an array from an empty typed array: empty arrays come from np.zeros.
 */
import { numpy as np } from "@jax-js/jax";
import { onDevice } from "../engine/device-buffer.js";
import { float64Array } from "../engine/float64.js";

/** The jax-js dtypes that have a safetensors equivalent. */
export type StorableDType = "float32" | "float64" | "float16" | "int32" | "uint32" | "bool";

/** A typed array holding one array's elements as jax-js stores them. */
export type ElementData = Float32Array | Float64Array | Int32Array | Uint32Array | Uint16Array;

/** Whether this runtime has a native Float16Array (Node 24+, recent browsers). */
export const hasFloat16Array =
  typeof (globalThis as { Float16Array?: unknown }).Float16Array === "function";

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error(
    "rankwise io: big-endian platforms are not supported (safetensors is little-endian)",
  );
}

/** Bytes per element in a safetensors file. */
export const FILE_BYTES: Record<StorableDType, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  int32: 4,
  uint32: 4,
  bool: 1,
};

const DTYPES: Record<StorableDType, np.DType> = {
  float32: np.float32,
  float64: np.float64,
  float16: np.float16,
  int32: np.int32,
  uint32: np.uint32,
  bool: np.bool,
};

export function isStorable(dtype: string): dtype is StorableDType {
  return Object.hasOwn(FILE_BYTES, dtype);
}

function unreadable(a: np.Array, err: unknown): Error {
  if (a.dtype === "float16" && !hasFloat16Array) {
    return new TypeError(
      "cannot read a float16 array: this JavaScript runtime has no Float16Array (Node 24+, browsers)",
    );
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** Copy one array's data into `out` in file layout. Borrows `a`. */
export function writeArraySync(a: np.Array, out: Uint8Array): void {
  let data: ArrayBufferView;
  try {
    data = a.ref.dataSync();
  } catch (err) {
    throw unreadable(a, err);
  }
  copyElements(a.dtype as StorableDType, data, out);
}

/** Like {@link writeArraySync}, but waits for pending work (needed with wasm worker threads). */
export async function writeArray(a: np.Array, out: Uint8Array): Promise<void> {
  let data: ArrayBufferView;
  try {
    data = await a.ref.data();
  } catch (err) {
    throw unreadable(a, err);
  }
  copyElements(a.dtype as StorableDType, data, out);
}

function copyElements(dtype: StorableDType, data: ArrayBufferView, out: Uint8Array): void {
  if (dtype === "bool") {
    const ints = data as Int32Array;
    if (ints.length !== out.length) throw new Error("array data does not match its shape");
    for (let i = 0; i < ints.length; i++) out[i] = ints[i] ? 1 : 0;
    return;
  }
  if (data.byteLength !== out.length) throw new Error("array data does not match its shape");
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/**
 * Build an array of `dtype` from elements already in jax-js layout (for bool: int32 0/1;
 * for float16: the raw 16-bit patterns). Consumes nothing; the data is copied.
 */
export function arrayFromElements(
  dtype: StorableDType,
  shape: number[],
  data: ElementData,
): np.Array {
  const size = shape.reduce((n, d) => n * d, 1);
  if (data.length !== size) throw new Error("element count does not match the shape");
  if (size === 0) return np.zeros(shape, { dtype: DTYPES[dtype] });
  const g = globalThis as { Float16Array?: any };
  if (dtype === "float16") {
    if (!hasFloat16Array) throw new TypeError("cannot build a float16 array without Float16Array");
    return onDevice(
      np.array(new g.Float16Array(data.buffer, data.byteOffset, data.length), {
        shape,
        dtype: np.float16,
      }),
    );
  }
  // A device buffer, never an inline constant: see src/engine/device-buffer.ts (exact resume).
  if (dtype === "float64") return onDevice(float64Array(data as Float64Array, shape));
  return onDevice(np.array(data as Float32Array, { shape, dtype: DTYPES[dtype] }));
}
