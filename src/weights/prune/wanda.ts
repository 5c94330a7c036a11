/**
 * Wanda (pruning by Weights and activations): S_ij = |W_ij|·‖X_j‖₂, with X_j input feature j over
 * all calibration tokens; in each output row, prune the ⌊in·s⌋ lowest scores (the comparison
 * group is the row, not the matrix). N:M: the N lowest of every M consecutive inputs of a row.
 *
 * Paper: Sun, Liu, Bair, Kolter 2023, "A Simple and Effective Pruning Approach for Large Language
 * Models". Reference: locuslab/wanda lib/prune.py `prune_wanda`, lib/layerwrapper.py (its
 * scaler_row is ‖X_j‖²/nsamples; the constant factor changes no row's order, so we use ‖X_j‖₂).
 * Deviations: the variant with a cumulative-sum threshold (`--use_variant`) is not implemented.
 */
import { numpy as np } from "@jax-js/jax";
import { applyMask, lowestNM, lowestPerRow } from "./select.js";
import type { PruneMethod } from "./types.js";

export const wanda: PruneMethod = {
  name: "wanda",
  description: "|W|·‖X_j‖ per output row (Sun et al. 2023)",
  needs: "norms",
  nm: true,
  prune(weight, stats, { sparsity, nm }) {
    if (!stats) {
      weight.dispose();
      throw new Error("wanda needs calibration statistics");
    }
    const norms = np.array(Float32Array.from(stats.sqNorm, Math.sqrt)).reshape([1, -1]);
    const scores = np.abs(weight.ref).mul(norms);
    const pruned = nm ? lowestNM(scores, nm[0], nm[1]) : lowestPerRow(scores, sparsity);
    return applyMask(weight, pruned);
  },
};
