/**
 * Moving matrices between jax-js and host (JavaScript) float64 memory, and the argument checks
 * shared by the linear-algebra routines.
 *
 * Why host float64 at all: the factorisations here are accurate only with a float64 working
 * precision, and jax-js's float64 kernels on wasm run at about the speed of plain JavaScript
 * (measured 1–2 GFLOP/s for a 256–512 matmul, against 20–30 GFLOP/s for float32), so the
 * sequential parts (Householder panels, bidiagonal QR sweeps) run in JavaScript on Float64Array
 * and the bulk updates are jax-js float64 matmuls.
 * float64 arrays are built through src/engine/float64.ts (a jax-js quirk on Node 20).
 */
import { numpy as np } from "@jax-js/jax";
import { float64Array } from "../engine/float64.js";

/** The float dtypes the linear-algebra routines compute in. */
export type FloatDType = "float32" | "float64";

/** The jax-js dtype constant for a float dtype name. */
export const jaxDType = (d: FloatDType): np.DType => (d === "float32" ? np.float32 : np.float64);

/** Check that `a` is a 2-D float32/float64 array; `name` is the function, for the message. */
export function checkMatrix(name: string, a: unknown): asserts a is np.Array {
  if (!(a instanceof np.Array)) throw new TypeError(`${name}: expected a jax-js array`);
  if (a.ndim !== 2) {
    throw new RangeError(`${name}: expected a 2-D matrix, got shape [${a.shape.join(", ")}]`);
  }
  if (a.dtype !== "float32" && a.dtype !== "float64") {
    throw new TypeError(`${name}: dtype must be float32 or float64, got ${a.dtype}`);
  }
}

/** Integer ≥ min, else RangeError naming the option. */
export function checkInteger(name: string, v: unknown, min: number, max = Infinity): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    const range = max === Infinity ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`;
    throw new RangeError(`${name} must be ${range}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** One of the listed strings, else RangeError naming the option and the accepted values. */
export function checkOneOf<T extends string>(name: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) {
    throw new RangeError(`${name} must be one of ${allowed.join(", ")}; got ${JSON.stringify(v)}`);
  }
  return v as T;
}

/** Copy of a 2-D array's data as row-major float64. Consumes `a`. */
export function toHost(a: np.Array): Float64Array {
  const data = a.dataSync();
  return data instanceof Float64Array ? data : Float64Array.from(data as ArrayLike<number>);
}

/** Build a jax-js array of `dtype` from host float64 data. Consumes nothing. */
export function fromHost(data: Float64Array, shape: number[], dtype: FloatDType): np.Array {
  if (data.length === 0) return np.zeros(shape, { dtype: jaxDType(dtype) });
  if (dtype === "float32") return np.array(Float32Array.from(data), { shape, dtype: np.float32 });
  return float64Array(data, shape);
}

/** Row-major transpose of an m×n host matrix. */
export function transposeHost(a: Float64Array, m: number, n: number): Float64Array {
  const t = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const row = i * n;
    for (let j = 0; j < n; j++) t[j * m + i] = a[row + j];
  }
  return t;
}
