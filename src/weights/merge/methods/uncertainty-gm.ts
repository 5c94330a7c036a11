/**
 * uncertainty_gm: merging by uncertainty-based gradient matching. Rule, per element, with
 * τ_t = θ_t − θ₀, H_t the diagonal Fisher of model t and H₀ the base's (statistics.ts):
 *   P = 1 / (Σ_t α·w_t·H_t + s₀·H₀ + δ₀),
 *   θ = θ₀ + α·Σ_t P·(w_t·H_t + s₀·H₀ + δ₀)·τ_t,
 * α = scaling_factor, w_t = weight (per model), s₀ = scaling_factor_pt, δ₀ = delta_0 (the base's
 * weight decay over its data size in theory; "a small value like 1e-12" in practice). With
 * H₀ = δ₀ = 0 and equal H_t this is θ₀ + mean_t τ_t; with H_t ∝ 1 it is task arithmetic.
 *
 * Paper: Daheim et al. 2024, "Model Merging by Uncertainty-Based Gradient Matching" (ICLR).
 * Reference: UKPLab/iclr2024-model-merging code/uncertainty_based_gradient_matching.py (read, not
 * copied; parameter names and defaults as its arguments). Needs `calibration` (measured on
 * every model and the base).
 * Deviations: the reference's Hessian estimate samples labels from the model; the observed next
 * token is used here (statistics.ts). Where the denominator is 0 (no curvature anywhere and
 * δ₀ = 0) the reference gives NaN; here P = 0 there, i.e. the base's value.
 */
import { numpy as np } from "@jax-js/jax";
import type { MergeInput, MergeMethod } from "../method.js";

function release(input: MergeInput): void {
  for (const a of [...input.tensors, ...(input.stats ?? [])]) a.dispose();
  input.base?.dispose();
  input.baseStats?.dispose();
}

export const uncertaintyGm: MergeMethod = {
  name: "uncertainty_gm",
  base: "required",
  statistics: { kind: "fisher", base: true },
  params: [
    { name: "weight", default: 1, perModel: true },
    { name: "scaling_factor", default: 1, perModel: false },
    { name: "scaling_factor_pt", default: 1, perModel: false },
    {
      name: "delta_0",
      default: 0,
      perModel: false,
      check: (v) => ((v as number) >= 0 ? undefined : "must be ≥ 0"),
    },
  ],
  merge(input) {
    const { tensors, stats, baseStats, params } = input;
    const base = input.base!;
    if (stats === undefined || baseStats === undefined) {
      release(input);
      throw new Error(`uncertainty_gm: no Fisher for ${input.name}`);
    }
    if (tensors.length === 0) {
      baseStats.dispose();
      return base;
    }
    const alpha = Number(params.scaling_factor);
    const delta0 = Number(params.delta_0);
    // s₀·H₀ + δ₀, shared by the preconditioner and every task's numerator.
    const prior = np.add(np.multiply(baseStats, Number(params.scaling_factor_pt)), delta0);
    let denominator = prior.ref;
    let numerator: np.Array | undefined;
    tensors.forEach((x, i) => {
      const wh = np.multiply(stats[i]!, Number(input.modelParams[i]!.weight));
      denominator = np.add(denominator, np.multiply(wh.ref, alpha));
      const term = np.multiply(np.add(wh, prior.ref), np.subtract(x, base.ref));
      numerator = numerator === undefined ? term : np.add(numerator, term);
    });
    prior.dispose();
    const zero = np.equal(denominator.ref, 0);
    const p = np.where(zero.ref, 0, np.divide(1, np.where(zero, 1, denominator)));
    return np.add(base, np.multiply(np.multiply(p, numerator!), alpha));
  },
};
