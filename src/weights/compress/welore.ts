/**
 * WeLore (Weight Low-Rank Projection): non-uniform ranks read from each matrix's singular-value
 * decay, and matrices that do not compress left dense.
 *
 *   normalise each matrix's spectrum by its largest value: σ̂_i = σ_i / σ_1;
 *   --rank-ratio ρ: one threshold t over all decoder matrices, the largest that keeps a share ρ
 *     of all normalised singular values (Σ_l #{σ̂ ≥ t} ≈ ρ·Σ_l k_l); matrix l keeps
 *     r_l = #{i: σ̂_i ≥ t} (at least 1), so fast-decaying (heavy-tailed) matrices get small ranks
 *     and flat ones large ranks;
 *   --energy e: each matrix's own energy rank (./rank.ts), already decay-dependent;
 *   then a matrix whose rank-r_l factors would not save bytes (r_l·(out + in) ≥ out·in) is a
 *   "non-low-rank component" and stays dense; the others ("low-rank components") are stored as
 *   their truncated SVD factors.
 *
 * Paper: Jaiswal, Yin, Zhang, Liu, Zhao, Tian, Wang 2024, "From GaLore to WeLore: How Low-Rank
 * Weights Non-uniformly Emerge from Low-Rank Gradients" (reference VITA-Group/welore): rank
 * reduction by a single threshold on normalised singular values across layers, LRC / N-LRC split.
 * Deviations: the LRC / N-LRC split is by storage (factors smaller than the matrix), not by a
 * tuned reduction-ratio cut; written from the paper, the reference code was not available here.
 */
import { numpy as np } from "@jax-js/jax";
import { svdPlan } from "./factors.js";
import { ruleRank, savesBytes } from "./rank.js";
import type { CompressMethod, RankRule } from "./types.js";

/** Per-matrix ranks (0 = stays dense) under WeLore's rule (see the file header). */
export function weloreRanks(
  layers: { spectrum: Float64Array; shape: [number, number] }[],
  rule: RankRule,
): number[] {
  let ranks: number[];
  if (rule.rankRatio !== undefined) {
    const normalised = layers.map(({ spectrum }) => {
      const top = spectrum[0]! > 0 ? spectrum[0]! : 1;
      return spectrum.map((v) => v / top);
    });
    const all = Float64Array.from(normalised.flatMap((n) => Array.from(n)))
      .sort()
      .reverse();
    const keep = Math.max(1, Math.round(rule.rankRatio * all.length));
    const threshold = all[keep - 1]!;
    ranks = normalised.map((n) => Math.max(1, n.filter((v) => v >= threshold).length));
  } else {
    ranks = layers.map(({ spectrum }) => ruleRank(spectrum, rule));
  }
  return ranks.map((r, l) => (savesBytes(r, ...layers[l]!.shape) ? r : 0));
}

export const welore: CompressMethod = {
  name: "welore",
  description:
    "WeLore: ranks from each matrix's singular-value decay; matrices that do not compress stay dense (Jaiswal et al. 2024)",
  needs: "none",
  prepare: (weight) => svdPlan(weight.astype(np.float64)),
  selectRanks: weloreRanks,
};
