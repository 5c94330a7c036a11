/**
 * GBLM-Pruner (gradient-based language model pruner): Wanda's score plus a gradient term,
 *   S_ij = |W_ij|·√(Σ_t x_tj² / N) + |W_ij|·G_ij,   G = √(Σ_s (100·∂L_s/∂W)²),
 * with N calibration sequences, L_s sequence s's mean next-token cross-entropy at the dense model
 * (before any pruning), the activation term measured block by block as Wanda does. Masked per
 * output row (the ⌊in·s⌋ lowest) or N:M, as Wanda.
 *
 * Paper: Das, Ma, Shen 2023, "Beyond Size: How Gradients Shape Pruning Decisions in Large Language
 * Models". Reference: VILA-Lab/GBLM-Pruner gradient_computation.py (per-sample gradients, scale
 * 100, ℓ2 over samples) and lib/prune.py `prune_gblm` (the default, gradient_inv off); its
 * layerwrapper's scaler_row is Σ x²/N, and unlike Wanda the factor matters here, as two terms add.
 * Deviations: the gradients are computed in float32 within the command (the reference stores them
 * as float16 in a file made by a separate script); the cumulative-sum variant is not implemented.
 */
import { numpy as np } from "@jax-js/jax";
import { applyMask, lowestNM, lowestPerRow } from "./select.js";
import type { PruneMethod } from "./types.js";

/** The gradient scale of the reference (gradient_computation.py --scale). */
export const GBLM_SCALE = 100;

export const gblm: PruneMethod = {
  name: "gblm",
  description: "|W|·‖X_j‖ + |W|·|G| with calibration-loss gradients G (Das et al. 2023)",
  needs: "norms",
  gradients: true,
  nm: true,
  prune(weight, stats, { sparsity, nm }) {
    if (!stats?.gradient) {
      weight.dispose();
      throw new Error("gblm needs calibration statistics and gradients");
    }
    const [rows, cols] = weight.shape;
    const n = stats.samples;
    const norms = np
      .array(Float32Array.from(stats.sqNorm, (v) => Math.sqrt(v / n)))
      .reshape([1, -1]);
    const grad = np.array(Float32Array.from(stats.gradient), { shape: [rows, cols] });
    const magnitude = np.abs(weight.ref);
    const scores = magnitude.ref.mul(norms).add(magnitude.mul(grad));
    const pruned = nm ? lowestNM(scores, nm[0], nm[1]) : lowestPerRow(scores, sparsity);
    return applyMask(weight, pruned);
  },
};
