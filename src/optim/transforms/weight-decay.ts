/**
 * addDecayedWeights — u ← u + λ·p. Before the adaptive scaling it is L2 regularisation (torch Adam's
 * `weight_decay`); after it and before the learning rate it is decoupled weight decay (AdamW).
 * `mask` restricts it to some leaves (e.g. matrices only).
 */
import type { numpy as np } from "@jax-js/jax";
import {
  type GradientTransformation,
  type LeafSpec,
  masked,
  statelessWithParams,
} from "../core.js";

export function addDecayedWeights(
  weightDecay: number,
  mask?: LeafSpec<boolean>,
): GradientTransformation<any> {
  const inner = statelessWithParams("addDecayedWeights", (u, p) => {
    if (weightDecay !== 0) return u.add(p.mul(weightDecay));
    p.dispose();
    return u;
  });
  return mask === undefined ? inner : masked(inner, mask);
}

/** Matrices and higher-rank leaves only: the usual weight-decay mask (no decay on norms, biases). */
export const matricesOnly = (leaf: np.Array): boolean => leaf.ndim >= 2;
