/**
 * Which entries to prune, given scores (lower = less important): the shared selection rules of
 * the pruning methods. Ties go to the lower index (a stable sort), as torch.sort(stable=True)
 * does in Wanda's code.
 *
 * - per row (Wanda): in each row, the ⌊in·s⌋ lowest scores;
 * - per matrix (magnitude, SparseGPT's blocks): the ⌊numel·s⌋ lowest scores. Deviation: the
 *   reference code prunes `score ≤ sorted[⌊numel·s⌋]`, one entry more than numel·s (and one even
 *   at s = 0); we prune exactly ⌊numel·s⌋, and the fixture script does the same;
 * - N:M: in each row's groups of M consecutive inputs, the N lowest scores.
 *
 * The array versions rank with two stable argsorts (rank = argsort(argsort(score))), so a mask is
 * a handful of whole-array ops; the host version serves SparseGPT's sequential loop.
 */
import { numpy as np } from "@jax-js/jax";

/** rank < k along the last axis, as a boolean mask. Consumes `scores`. */
function lowestAlongLast(scores: np.Array, k: number): np.Array {
  const ranks = np.argsort(np.argsort(scores, -1), -1);
  return ranks.less(k);
}

/** Boolean mask [out, in] of the ⌊in·s⌋ lowest scores per row. Consumes `scores`. */
export function lowestPerRow(scores: np.Array, sparsity: number): np.Array {
  return lowestAlongLast(scores, Math.floor(scores.shape[1] * sparsity));
}

/** Boolean mask of the ⌊numel·s⌋ lowest scores of the whole matrix. Consumes `scores`. */
export function lowestOverall(scores: np.Array, sparsity: number): np.Array {
  const shape = scores.shape;
  const k = Math.floor(scores.size * sparsity);
  return lowestAlongLast(scores.reshape([-1]), k).reshape(shape);
}

/** Boolean mask of the N lowest of every M consecutive scores in a row. Consumes `scores`. */
export function lowestNM(scores: np.Array, n: number, m: number): np.Array {
  const [rows, cols] = scores.shape;
  if (cols % m !== 0) {
    scores.dispose();
    throw new RangeError(
      `N:M ${n}:${m} needs the input size to be a multiple of ${m}, got ${cols}`,
    );
  }
  return lowestAlongLast(scores.reshape([rows, cols / m, m]), n).reshape([rows, cols]);
}

/** Indices of the k lowest of `scores` (host, stable). */
export function lowestHost(scores: Float64Array, k: number): Uint32Array {
  const order = new Uint32Array(scores.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  order.sort((a, b) => scores[a] - scores[b] || a - b);
  return order.subarray(0, k);
}

/** Zero the masked entries of `weight`. Consumes both. */
export function applyMask(weight: np.Array, pruned: np.Array): np.Array {
  return np.where(pruned, 0, weight);
}
