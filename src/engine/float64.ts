/**
 * Engine quirk (jax-js 0.1.25): building an array from a Float64Array first tests
 * `data instanceof Float16Array`, which throws a ReferenceError on runtimes without Float16Array
 * (Node 20 and 22). While building one, a placeholder class stands on globalThis so the test just
 * answers "no"; it is added only if the runtime has none and removed synchronously right after,
 * so no other code can observe it.
 */
import { numpy as np } from "@jax-js/jax";

/** A float64 jax-js array holding a copy of `data` with `shape`. */
export function float64Array(data: Float64Array, shape: number[]): np.Array {
  const g = globalThis as { Float16Array?: unknown };
  if (g.Float16Array !== undefined) return np.array(data, { shape, dtype: np.float64 });
  g.Float16Array = class Float16ArrayPlaceholder {};
  try {
    return np.array(data, { shape, dtype: np.float64 });
  } finally {
    delete g.Float16Array;
  }
}
