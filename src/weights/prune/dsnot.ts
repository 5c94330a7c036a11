/**
 * DSnoT (dynamic sparse no training): start from Wanda's mask, then per output row swap pruned
 * and kept weights, without training, so that the row's expected output shift shrinks.
 *
 *   d_j = W_ij·x̄_j with x̄_j = Σ_t x_tj / N (N calibration sequences);
 *   err = Σ_{j pruned} d_j (what pruning removed from the row's expected output), sign₀ = sign(err).
 *   Per cycle (at most 50): regrow the pruned weight with the largest d_j/var_j if err > 0, else
 *   the smallest (most negative); prune the kept weight with the lowest Wanda score among those
 *   with d_j < 0 if err ≥ 0, else among those with d_j > 0; accept the swap only while
 *   |err| > 0.1 and sign(err + d_pruned − d_regrown) = sign₀; the row stops at its first refusal.
 *   var_j is the mean over sequences of each sequence's variance of x_j.
 *   MLP layers keep Wanda's mask (the reference's default --skip_layer mlp).
 *   N:M: the start is Wanda's N:M mask; the regrown weight is chosen as above, and the weight
 *   pruned in exchange is the lowest-Wanda weight of the regrown one's group of M among those
 *   kept from the start (so every group keeps N pruned).
 *
 * Paper: Zhang et al. 2024, "Dynamic Sparse No Training: Training-Free Fine-tuning for Sparse
 * LLMs" (ICLR). Reference: zyxxmu/DSnoT lib/prune.py `prune_DSnoT` (unstructured branch,
 * initial_method wanda, max_cycle_time 50, update_threshold 0.1, pow_of_var_regrowing 1) and
 * lib/layerwrapper.py (sum_metric_row, var).
 * Deviations: a row also stops when it has no candidate left on the side it needs (the reference
 * walks its sorted lists by pointers that can run into kept entries, or past the end, on layers
 * with few inputs); weights with d_j = 0 are never candidates (the reference's reordering assumes
 * none); one row at a time on the host (the reference runs all rows in lockstep, which changes no
 * row's result). N:M: a row also stops when the regrown weight's group has no weight left that was
 * kept from the start (the reference would then pick an already swapped one).
 */
import { numpy as np } from "@jax-js/jax";
import type { PruneMethod } from "./types.js";

export const DSNOT_MAX_CYCLES = 50;
export const DSNOT_THRESHOLD = 0.1;

/** Stable ascending order of `idx` by `key`. */
const byKey = (idx: number[], key: (j: number) => number) =>
  idx.sort((a, b) => key(a) - key(b) || a - b);

/**
 * What both branches start from: each input's contribution d = w·x̄ to the expected output shift,
 * the shift err of the pruned entries, and the regrowth candidates (pruned entries by d/var, most
 * negative first / most positive first).
 */
function rowStart(w: Float64Array, mean: Float64Array, variance: Float64Array, pruned: Uint8Array) {
  const d = Float64Array.from(w, (v, j) => v * mean[j]);
  let err = 0;
  for (let j = 0; j < w.length; j++) if (pruned[j]) err += d[j];
  const all = [...Array(w.length).keys()];
  const regrowKey = (j: number) => d[j] / variance[j];
  const regrowNeg = byKey(
    all.filter((j) => pruned[j] && regrowKey(j) < 0),
    regrowKey,
  );
  const regrowPos = byKey(
    all.filter((j) => pruned[j] && regrowKey(j) > 0),
    regrowKey,
  ).reverse();
  return { d, err, sign0: Math.sign(err), all, regrowNeg, regrowPos };
}

/** One row of DSnoT on the host: `pruned` (0/1 per input) is updated in place. */
export function dsnotRow(
  w: Float64Array,
  wanda: Float64Array,
  mean: Float64Array,
  variance: Float64Array,
  pruned: Uint8Array,
): void {
  const { d, sign0, all, regrowNeg, regrowPos, ...initial } = rowStart(w, mean, variance, pruned);
  let err = initial.err;
  // Pruning candidates: kept entries by ascending Wanda score, split by the sign of d.
  const kept = byKey(
    all.filter((j) => !pruned[j]),
    (j) => wanda[j],
  );
  const pruneNeg = kept.filter((j) => d[j] < 0);
  const prunePos = kept.filter((j) => d[j] > 0);
  let rn = 0;
  let rp = 0;
  let pn = 0;
  let pp = 0;
  for (let cycle = 0; cycle < DSNOT_MAX_CYCLES; cycle++) {
    const g = err > 0 ? regrowPos[rp] : regrowNeg[rn];
    const p = err < 0 ? prunePos[pp] : pruneNeg[pn];
    if (g === undefined || p === undefined) return;
    const after = err + d[p] - d[g];
    if (!(Math.abs(err) > DSNOT_THRESHOLD && Math.sign(after) === sign0)) return;
    if (err > 0) rp++;
    else rn++;
    if (err < 0) pp++;
    else pn++;
    pruned[p] = 1;
    pruned[g] = 0;
    err = after;
  }
}

/** One row of DSnoT's N:M branch on the host (`pruned` starts as Wanda's N:M mask). */
export function dsnotRowNM(
  w: Float64Array,
  wanda: Float64Array,
  mean: Float64Array,
  variance: Float64Array,
  pruned: Uint8Array,
  m: number,
): void {
  const { d, sign0, regrowNeg, regrowPos, ...initial } = rowStart(w, mean, variance, pruned);
  let err = initial.err;
  // Pruning candidates: weights kept from the start; pruned or swapped ones are +∞.
  const candidate = Float64Array.from(wanda, (v, j) => (pruned[j] ? Infinity : v));
  let rn = 0;
  let rp = 0;
  for (let cycle = 0; cycle < DSNOT_MAX_CYCLES; cycle++) {
    const g = err > 0 ? regrowPos[rp] : regrowNeg[rn];
    if (g === undefined) return;
    const start = g - (g % m);
    let p = start;
    for (let j = start + 1; j < start + m; j++) if (candidate[j] < candidate[p]) p = j;
    if (candidate[p] === Infinity) return;
    const after = err + d[p] - d[g];
    if (!(Math.abs(err) > DSNOT_THRESHOLD && Math.sign(after) === sign0)) return;
    if (err > 0) rp++;
    else rn++;
    pruned[p] = 1;
    pruned[g] = 0;
    candidate[p] = Infinity;
    err = after;
  }
}

export const dsnot: PruneMethod = {
  name: "dsnot",
  description: "Wanda's mask refined by training-free regrow-and-prune swaps (Zhang et al. 2024)",
  needs: "norms",
  nm: true,
  prune(weight, stats, { sparsity, nm }, module = "") {
    if (!stats) {
      weight.dispose();
      throw new Error("dsnot needs calibration statistics");
    }
    const [rows, cols] = weight.shape;
    const w = Float64Array.from(weight.ref.dataSync() as Float32Array);
    const n = stats.samples;
    const norms = Float64Array.from(stats.sqNorm, (v) => Math.sqrt(v / n));
    const mean = Float64Array.from(stats.sum, (v) => v / n);
    const k = Math.floor(cols * sparsity);
    const mask = new Uint8Array(rows * cols);
    const skip = module.includes(".mlp.");
    for (let r = 0; r < rows; r++) {
      const row = w.subarray(r * cols, (r + 1) * cols);
      const wanda = Float64Array.from(row, (v, j) => Math.abs(v) * norms[j]);
      const pruned = mask.subarray(r * cols, (r + 1) * cols);
      if (nm) {
        const [n, m] = nm;
        for (let g = 0; g < cols; g += m) {
          const group = [...Array(m).keys()].map((i) => g + i);
          for (const j of byKey(group, (j) => wanda[j]).slice(0, n)) pruned[j] = 1;
        }
        if (!skip) dsnotRowNM(row, wanda, mean, stats.variance, pruned, m);
        continue;
      }
      const order = [...Array(cols).keys()].sort((a, b) => wanda[a] - wanda[b] || a - b);
      for (let i = 0; i < k; i++) pruned[order[i]] = 1;
      if (!skip) dsnotRow(row, wanda, mean, stats.variance, pruned);
    }
    return weight.mul(
      np.array(
        Float32Array.from(mask, (m) => 1 - m),
        { shape: [rows, cols] },
      ),
    );
  },
};
