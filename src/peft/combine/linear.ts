/**
 * linear: the weighted sum of the updates, ΔW = Σ wᵢ·ΔWᵢ, re-factored by SVD — exact at the
 * default rank min(Σ rᵢ, min(out, in)) (min(out, in) with a DoRA input, whose ΔW is not
 * low-rank), the best rank-k approximation with --rank k. Unlike
 * PEFT's "linear", which mixes the A's and the B's separately and so adds cross terms
 * wᵢ·Bᵢ·Aⱼ (peft#3004), this acts on ΔW. Weights are used as given (no normalisation).
 */
import { refactorSum, sumDense, sumRank } from "./dense.js";
import type { CombineMethod } from "./method.js";

export const linear: CombineMethod = {
  name: "linear",
  summary: "Σ wᵢ·ΔWᵢ re-factored, exact at rank Σ rᵢ (or truncated to --rank)",
  combine: (input) => refactorSum(input, input.rank ?? sumRank(input)),
  dense: sumDense,
};
