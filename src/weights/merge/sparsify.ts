/**
 * Sparsification of a task vector δ, as mergekit's sparsify.py (read, not copied):
 *
 * - magnitude (TIES): keep the k = ⌊density·n⌋ entries of largest |δ|;
 * - random (DARE): keep each entry with probability density;
 * - magnitude_outliers (breadcrumbs): sort |δ| ascending, drop the n_top = ⌊γ·n⌋ largest and the
 *   n_bot = n − ⌊density·n⌋ − n_top smallest (n_top shrinks when n_bot would be negative);
 * - della_magprune (DELLA): per row (1-D tensors as one row), rank r ∈ 1..c of |δ| ascending,
 *   keep with probability density − ε + 2ε·(r − 1)/(c − 1);
 *
 * then, with `rescale`, scale the kept tensor so its L1 norm equals the original's (skipped when
 * either norm is below 1e−7). density ≥ 1 returns δ unchanged.
 *
 * Ranks are stable (equal magnitudes rank by index), so exactly k entries are kept: DELLA's per-row
 * ranks come from a double argsort; TIES's and breadcrumbs' masks from the k-th value (one native
 * host sort), since they need only which entries rank below k (see rankBelow for ties).
 *
 * Deviations: mergekit's breadcrumbs keeps nothing when n_top = 0 (its slice [n_bot:-0] is
 * empty); here it keeps [n_bot, n). A della row of one column has rank_norm 0 (mergekit divides
 * 0 by 0).
 */
import { numpy as np, random } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";

export type SparsifyMethod = "magnitude" | "random" | "magnitude_outliers" | "della_magprune";

export interface SparsifyOptions {
  method: SparsifyMethod;
  density: number;
  rescale: boolean;
  /** breadcrumbs: share of the largest entries dropped. */
  gamma?: number;
  /** DELLA: half-width of the keep-probability range. */
  epsilon?: number;
  /** random and della_magprune: the PRNG seed. */
  seed?: number;
}

/** Ascending ranks 0..n−1 of `x` along its last axis (stable). Consumes x. */
function ranks(x: np.Array): np.Array {
  return np.argsort(np.argsort(x), -1);
}

/**
 * 1 where the stable ascending rank of flat `x` (consumed; ±|δ|) is below `m`, as `ranks(x) < m`
 * gives, from one native host sort for the m-th value t: two device argsorts of a 4M-entry
 * embedding took minutes and gigabytes. Only when equal values straddle the cut does the stable
 * rank decide which are kept, and then it is computed exactly; tied zeros are an exception left
 * out instead, since they mask δ = 0 either way.
 */
function rankBelow(x: np.Array, m: number): np.Array {
  const n = x.size;
  if (m <= 0 || m >= n) {
    const shape = x.shape;
    x.dispose();
    return np.full(shape, m > 0 ? 1 : 0, { dtype: np.float32 });
  }
  const sorted = Float32Array.from(x.ref.dataSync() as Float32Array).sort();
  const t = sorted[m - 1]!;
  let end = m; // one past the last entry equal to t
  while (end < n && sorted[end] === t) end++;
  if (end === m) return np.lessEqual(x, t).astype(np.float32);
  if (t === 0) return np.less(x, t).astype(np.float32);
  return np.less(ranks(x), m).astype(np.float32);
}

/** L1 rescale of masked = δ·mask back to δ's norm (mergekit's rescaled_masked_tensor). */
function rescaleL1(delta: np.Array, masked: np.Array): np.Array {
  const before = np.sum(np.abs(delta));
  const after = np.sum(np.abs(masked.ref));
  const tiny = np.logicalOr(np.less(before.ref, 1e-7), np.less(after.ref, 1e-7));
  const factor = np.where(tiny, 1, np.divide(before, after));
  return np.multiply(masked, factor);
}

/**
 * Throw the one-line UsageError {@link sparsify} would for a tensor of `n` entries, before any
 * array is consumed.
 */
export function checkSparsify(options: SparsifyOptions, n: number): void {
  const { method, density } = options;
  if (!(density >= 0)) throw new UsageError(`density must be a number in [0, 1], got ${density}`);
  if (density >= 1) return;
  if (method === "magnitude" && Math.floor(density * n) <= 0) {
    throw new UsageError(
      `density ${density} keeps no entry of a ${n}-element tensor (⌊density·n⌋ = 0): use density ≥ ${1 / n} or 1`,
    );
  }
  const epsilon = options.epsilon ?? 0.15;
  if (
    method === "della_magprune" &&
    density > 0 &&
    (density + epsilon >= 1 || density - epsilon <= 0)
  ) {
    throw new UsageError(
      `epsilon ${epsilon} with density ${density}: density ± epsilon must lie in (0, 1)`,
    );
  }
}

/** Sparsify δ (consumed) as the file header says. */
export function sparsify(delta: np.Array, options: SparsifyOptions): np.Array {
  const { method, density, rescale } = options;
  try {
    checkSparsify(options, delta.size);
  } catch (error) {
    delta.dispose();
    throw error;
  }
  if (density >= 1) return delta;
  const shape = delta.shape;
  const n = delta.size;
  let mask: np.Array;
  if (method === "magnitude") {
    const k = Math.floor(density * n);
    // Rank of −|δ| ascending = rank of |δ| descending.
    mask = rankBelow(np.negative(np.abs(delta.ref)).reshape([n]), k).reshape(shape);
  } else if (method === "magnitude_outliers") {
    const target = Math.floor(density * n);
    let top = Math.floor((options.gamma ?? 0.01) * n);
    let bottom = n - target - top;
    if (bottom < 0) {
      top += bottom;
      bottom = 0;
    }
    const magnitude = np.abs(delta.ref).reshape([n]);
    mask = np
      .subtract(rankBelow(magnitude.ref, n - top), rankBelow(magnitude, bottom))
      .reshape(shape);
  } else if (method === "random") {
    const u = random.uniform(random.key(options.seed ?? 0), shape);
    mask = np.less(u, density).astype(np.float32);
  } else {
    const epsilon = options.epsilon ?? 0.15;
    if (density <= 0) {
      delta.dispose();
      return np.zeros(shape);
    }
    const rows = shape.length < 2 ? [1, n] : [n / shape[shape.length - 1]!, shape.at(-1)!];
    const cols = rows[1]!;
    const r = ranks(np.abs(delta.ref).reshape(rows)).astype(np.float32);
    const norm = cols > 1 ? np.divide(r, cols - 1) : np.multiply(r, 0);
    const probs = np.add(np.multiply(norm, 2 * epsilon), density - epsilon);
    const u = random.uniform(random.key(options.seed ?? 0), rows);
    mask = np.less(u, probs).astype(np.float32).reshape(shape);
  }
  const masked = np.multiply(delta.ref, mask);
  if (!rescale) {
    delta.dispose();
    return masked;
  }
  return rescaleL1(delta, masked);
}
