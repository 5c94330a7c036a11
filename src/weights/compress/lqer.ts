/**
 * LQER (low-rank quantisation error reconstruction): a quantised W plus a low-rank correction
 * of its quantisation error,
 *
 *   Q = RTN(W),   E = W − Q,   E D ≈ U_r Σ_r V_rᵀ,   W ≈ Q + B A,
 *   B = U_r Σ_r^½,  A = Σ_r^½ V_rᵀ D⁻¹,
 *
 * with D = diag(s_j) an activation-induced column scale, s_j = √(mean over calibration tokens of
 * x_j²) (L²QER), or D = I without calibration (plain LQER, where B A is E's best rank-r
 * approximation, so ‖W − Q − B A‖_F < ‖W − Q‖_F whenever E ≠ 0; with D the error is minimal in
 * the activation-weighted norm ‖(W − Q − B A) D‖_F, which tracks the layer's output error).
 * The module is stored as Q (`<m>.weight`) plus the factors; the rank rule reads the singular
 * values of E D.
 *
 * Paper: Zhang, Cheng, Constantinides, Zhao 2024, "LQER: Low-Rank Quantization Error
 * Reconstruction for LLMs" (ICML), §3 (LQER, and L²QER's activation-induced scale).
 * Deviations: s_j is the RMS of x_j (the paper averages |x_j| per channel); scales below 1e-6 of
 * the largest are raised to it; Q is round-to-nearest on GPTQ's grid (./quantizer.ts) and the
 * factors are float32 (the paper keeps them in 8-bit for W4A8).
 */
import { numpy as np } from "@jax-js/jax";
import { float64Array } from "../../engine/float64.js";
import { svdPlan } from "./factors.js";
import type { CompressMethod } from "./types.js";

/** Column scales from input RMS, floored at 1e-6·max (all ones when every input is zero). */
export function activationScale(inputRms: Float64Array): Float64Array {
  const max = inputRms.reduce((m, v) => Math.max(m, v), 0);
  if (!(max > 0)) return new Float64Array(inputRms.length).fill(1);
  return inputRms.map((v) => Math.max(v, 1e-6 * max));
}

export const lqer: CompressMethod = {
  name: "lqer",
  description:
    "LQER: RTN-quantised W plus a rank-r SVD of its (activation-scaled) error (Zhang et al. 2024)",
  needs: "activations",
  keepsDense: true,
  prepare(weight, { quantize, inputRms, module }) {
    if (!quantize) {
      weight.dispose();
      throw new Error(`lqer needs a quantizer (${module})`);
    }
    const q = quantize(weight.ref);
    const error = weight.sub(q.value.ref).astype(np.float64);
    if (!inputRms) return svdPlan(error, { quantized: q });
    const d = activationScale(inputRms);
    const scaled = error.mul(float64Array(d, [1, d.length]));
    return svdPlan(scaled, { colScale: d, quantized: q });
  },
};
