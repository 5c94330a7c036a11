/**
 * cat: concatenate the inputs' factors, ΔW = Σ wᵢ·Lᵢ·Rᵢ = [w₁L₁ | w₂L₂ | …]·[R₁; R₂; …], exact,
 * rank Σ rᵢ (PEFT's add_weighted_adapter "cat"). Each input's own scaling (α/r, rsLoRA α/√r) is
 * already folded into Lᵢ (../delta.ts), so inputs of different ranks and alphas combine exactly
 * and the output's scaling is 1. Needs exact factors: a DoRA input is refused (use linear or
 * svd). --rank is not used (the rank is Σ rᵢ).
 */
import { UsageError } from "../../engine/errors.js";
import { catFactors, sumDense, weightedSum } from "./dense.js";
import type { CombineMethod } from "./method.js";

export const cat: CombineMethod = {
  name: "cat",
  summary: "concatenated factors, exact: ΔW = Σ wᵢ·ΔWᵢ at rank Σ rᵢ",
  combine(input) {
    const f = catFactors(input);
    // checkCombineInputs refuses inputs without factors before any work.
    if (f === undefined) throw new UsageError(`an input has no factors of ${input.module.name}`);
    return { ...f, target: weightedSum(input) };
  },
  dense: sumDense,
};
