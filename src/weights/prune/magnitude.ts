/**
 * Magnitude pruning: one threshold per matrix, prune the ⌊numel·s⌋ smallest |W_ij|; with N:M,
 * the N smallest |W| of every M consecutive inputs of a row. No calibration.
 *
 * Reference: locuslab/wanda lib/prune.py `prune_magnitude` (the baseline of Sun et al. 2023,
 * "A Simple and Effective Pruning Approach for Large Language Models"); Han et al. 2015,
 * "Learning both Weights and Connections for Efficient Neural Networks".
 * Deviation: exactly ⌊numel·s⌋ entries (the reference's `≤ threshold` prunes one more; select.ts).
 */
import { numpy as np } from "@jax-js/jax";
import { applyMask, lowestNM, lowestOverall } from "./select.js";
import type { PruneMethod } from "./types.js";

export const magnitude: PruneMethod = {
  name: "magnitude",
  description: "smallest |W| per matrix (no calibration)",
  needs: "none",
  nm: true,
  prune(weight, _stats, { sparsity, nm }) {
    const scores = np.abs(weight.ref);
    const pruned = nm ? lowestNM(scores, nm[0], nm[1]) : lowestOverall(scores, sparsity);
    return applyMask(weight, pruned);
  },
};
