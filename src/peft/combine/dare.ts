/**
 * dare (DARE on ΔW, mergekit's dare_linear): per input keep each entry of ΔWᵢ with probability
 * --density (seeded by --seed and the module), rescale the kept tensor to ΔWᵢ's L1 norm
 * (mergekit ≥ 0.1.0; PEFT divides by density), then Σ wᵢ·ΔWᵢ without normalisation —
 * `rankwise merge`'s dare_linear over a zero base (./task-arithmetic.ts) — and the truncated SVD
 * to --rank (default the largest input rank).
 */
import { dareLinear } from "../../weights/merge/methods/dare.js";
import type { CombineMethod } from "./method.js";
import { mergeDense, mergeOnDelta } from "./task-arithmetic.js";

export const dare: CombineMethod = {
  name: "dare",
  summary: "DARE on ΔW (random keep at --density, L1 rescale, weighted sum), then SVD to --rank",
  combine: (input) => mergeOnDelta(dareLinear, input),
  dense: (input) => mergeDense(dareLinear, input),
};
