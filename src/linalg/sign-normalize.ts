/**
 * Sign convention for singular vectors, so that projections built from them are the same on
 * every platform and from every SVD routine.
 *
 * Rule: each left singular vector u_i (a column of U) is flipped, together with its partner
 * v_i (a row of Vᵀ), so that its entry of largest magnitude is positive. On ties the first
 * (lowest-index) entry decides. Magnitudes are compared in the output dtype, so applying the
 * rule twice changes nothing. Vectors without a partner (the extra columns of U or rows of Vᵀ
 * of a full SVD) follow the same rule on their own. A zero vector is left as it is.
 *
 * This is the rule of scikit-learn's `svd_flip(u, v, u_based_decision=True)` (read for the
 * convention only; no code copied). Two implementations: on jax-js arrays (public) and on
 * host float64 data (used inside svd before the results become arrays).
 */
import { numpy as np } from "@jax-js/jax";
import { checkMatrix, type FloatDType } from "./host.js";

/**
 * ±1 (in x's dtype) from the entry of largest magnitude along `axis` of a matrix. Consumes x.
 * The entry is picked with a one-hot mask and a sum rather than takeAlongAxis: in jax-js 0.1.25
 * a gather on a not-yet-computed input leaks its buffers if the result is disposed unread.
 */
function largestEntrySign(x: np.Array, axis: 0 | 1): np.Array {
  const dtype = x.dtype;
  const length = x.shape[axis];
  const index = np.expandDims(np.argmax(np.abs(x.ref), axis), axis);
  const positions = np
    .arange(0, length, 1, { dtype: np.int32 })
    .reshape(axis === 0 ? [length, 1] : [1, length]);
  const picked = np.where(np.equal(positions, index), x, 0).sum(axis);
  return np.where(np.less(picked, 0), -1, 1).astype(dtype);
}

/**
 * Flip singular pairs so that each column of `u` has its largest-magnitude entry positive,
 * flipping the matching row of `vt` with it. Consumes `u` and `vt`.
 */
export function signNormalize(u: np.Array, vt: np.Array): { u: np.Array; vt: np.Array } {
  checkMatrix("signNormalize u", u);
  checkMatrix("signNormalize vt", vt);
  const ku = u.shape[1];
  const kv = vt.shape[0];
  const su = largestEntrySign(u.ref, 0);
  let sv: np.Array;
  if (kv === ku) sv = su.ref;
  else if (kv < ku) sv = su.ref.slice([0, kv]);
  else sv = np.concatenate([su.ref, largestEntrySign(vt.ref.slice([ku]), 1)]);
  return {
    u: u.mul(su.reshape([1, ku])),
    vt: vt.mul(sv.astype(vt.dtype).reshape([kv, 1])),
  };
}

/** Entry-wise rounding to the output dtype, for comparing magnitudes as the arrays will hold them. */
const rounder = (dtype: FloatDType) => (dtype === "float32" ? Math.fround : (x: number) => x);

/** Index of the first entry of largest |round(x)| among x[start + t·stride], t < count. */
function argmaxAbs(
  x: Float64Array,
  start: number,
  stride: number,
  count: number,
  round: (x: number) => number,
): number {
  let best = 0;
  let bestAbs = -1;
  for (let t = 0; t < count; t++) {
    const a = Math.abs(round(x[start + t * stride]));
    if (a > bestAbs) {
      bestAbs = a;
      best = t;
    }
  }
  return best;
}

/**
 * The same rule on host data, in place: `u` is m×ku row-major (vectors are columns), `vt` is
 * kv×n row-major (vectors are rows); `dtype` is the dtype the results will be stored in.
 */
export function signNormalizeHost(
  u: Float64Array,
  m: number,
  ku: number,
  vt: Float64Array,
  kv: number,
  n: number,
  dtype: FloatDType,
): void {
  const round = rounder(dtype);
  for (let j = 0; j < Math.max(ku, kv); j++) {
    let negative: boolean;
    if (j < ku) negative = round(u[argmaxAbs(u, j, ku, m, round) * ku + j]) < 0;
    else negative = round(vt[j * n + argmaxAbs(vt, j * n, 1, n, round)]) < 0;
    if (!negative) continue;
    if (j < ku) for (let i = 0; i < m; i++) u[i * ku + j] = -u[i * ku + j];
    if (j < kv) for (let i = 0; i < n; i++) vt[j * n + i] = -vt[j * n + i];
  }
}
