/**
 * Picking and replacing a few columns of a matrix by products with a one-hot selection matrix
 * (k×r, column j has its 1 in row picked[j]), instead of a gather and a scatter: jax-js 0.1.25 has
 * no scatter, and a gather's gradient fails under jit. Both are exact — every product but one is
 * a multiplication by 0 — so the picked columns come back bit for bit (SST's sampled singular
 * vectors, src/optim/optimizers/sst.ts).
 */
import { numpy as np } from "@jax-js/jax";

/** The k×r one-hot selection matrix of `picked` (distinct indices in [0, k)). */
export function selection(k: number, picked: readonly number[]): np.Array {
  const rows = np.arange(0, k, 1, { dtype: np.int32 }).reshape([k, 1]);
  const cols = np.array(Int32Array.from(picked), { dtype: np.int32 }).reshape([1, picked.length]);
  return np.equal(rows, cols).astype(np.float32);
}

/** x[:, picked] (m×r) from x (m×k). Consumes x; borrows `sel`. */
export const gatherColumns = (x: np.Array, sel: np.Array): np.Array => np.matmul(x, sel.ref);

/** x with columns `picked` replaced by `cols` (m×r). Consumes x and cols; borrows `sel`. */
export function scatterColumns(x: np.Array, cols: np.Array, sel: np.Array): np.Array {
  const keep = sel.ref.sum(1).neg().add(1); // 0 on the picked columns, 1 elsewhere
  return x.mul(keep).add(np.matmul(cols, sel.ref.transpose()));
}
