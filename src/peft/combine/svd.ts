/**
 * svd: the truncated SVD of the weighted sum ΔW = Σ wᵢ·ΔWᵢ at rank --rank (default the largest
 * input rank, PEFT's default). Each ΔWᵢ already carries its own scaling, applied once (PEFT
 * applied it a second time to the weights, peft#3111); the output's scaling is 1.
 */
import { maxRank, refactorSum, sumDense } from "./dense.js";
import type { CombineMethod } from "./method.js";

export const svd: CombineMethod = {
  name: "svd",
  summary: "truncated SVD of Σ wᵢ·ΔWᵢ at --rank (default the largest input rank)",
  combine: (input) => refactorSum(input, input.rank ?? maxRank(input)),
  dense: sumDense,
};
