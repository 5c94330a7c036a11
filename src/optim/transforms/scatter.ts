/**
 * scatterFlat — the inverse of a gather: values at `index` of a zero vector of length `size`
 * (indices distinct). jax-js has a scatter primitive but no public function for it; the scatter
 * is the transpose of `take`, so it is taken from the vector–Jacobian product of a gather and
 * compiled once per shape. Used by sparse-momentum optimizers to put compact per-entry updates
 * back into a leaf.
 */
import { jit, numpy as np, vjp } from "@jax-js/jax";

type Scatter = (values: np.Array, index: np.Array, base: np.Array) => np.Array;
const compiled = new Map<number, Scatter>();

/** A length-`size` vector: `values[j]` at `index[j]`, 0 elsewhere. Consumes values and index. */
export function scatterFlat(values: np.Array, index: np.Array, size: number): np.Array {
  let f = compiled.get(size);
  if (f === undefined) {
    // The gather's input is an argument, not a constant of the trace: a cached constant would
    // hold a device buffer for the program's lifetime.
    f = jit((v: np.Array, i: np.Array, base: np.Array) => {
      const [taken, back] = vjp((x: np.Array) => np.take(x, i), [base]);
      taken.dispose();
      const [out] = back(v);
      back.dispose();
      return out;
    }) as Scatter;
    compiled.set(size, f);
  }
  return f(values, index, np.zeros([size]));
}

/** x.reshape(-1)[index]. Consumes x, borrows index. */
export const gatherFlat = (x: np.Array, index: np.Array): np.Array =>
  np.take(x.reshape([-1]), index.ref);
