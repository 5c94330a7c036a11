/**
 * Truncated SVD: W ≈ U_r Σ_r V_rᵀ, the best rank-r approximation of W in the Frobenius and
 * spectral norms (Eckart & Young 1936, "The approximation of one matrix by another of lower
 * rank"; Mirsky 1960 for every unitarily invariant norm), with error ‖W − W_r‖_F² = Σ_{i>r} σ_i².
 * Stored as B = U_r Σ_r^½, A = Σ_r^½ V_rᵀ (./factors.ts). Data-free: no calibration.
 * The rank per matrix comes from --rank-ratio or --energy (./rank.ts).
 * Deviations: none (the SVD is the float64 one of linalg/svd.ts; factors are stored in float32).
 */
import { numpy as np } from "@jax-js/jax";
import { svdPlan } from "./factors.js";
import type { CompressMethod } from "./types.js";

export const truncatedSvd: CompressMethod = {
  name: "svd",
  description: "truncated SVD: W ≈ U_r Σ_r V_rᵀ, the best rank-r approximation (Eckart–Young)",
  needs: "none",
  prepare: (weight) => svdPlan(weight.astype(np.float64)),
};
