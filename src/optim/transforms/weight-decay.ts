/**
 * addDecayedWeights — u ← u + λ·p. Before the adaptive scaling it is L2 regularisation (torch Adam's
 * `weight_decay`); after it and before the learning rate it is decoupled weight decay (AdamW).
 * `mask` restricts it to some leaves (e.g. matrices only). Compiled over the whole tree.
 */
import type { numpy as np } from "@jax-js/jax";
import { type GradientTransformation, type LeafSpec, masked, statelessTree } from "../core.js";
import { leafwise } from "../leafwise.js";

const decayLeaves = leafwise(([u, p], [rate]) => [u.add(p.mul(rate))]);

export function addDecayedWeights(
  weightDecay: number,
  mask?: LeafSpec<boolean>,
): GradientTransformation<any> {
  const inner = statelessTree(
    (updates, params) => decayLeaves([updates, params], [weightDecay])[0],
    "addDecayedWeights",
  );
  return mask === undefined ? inner : masked(inner, mask);
}

/** Matrices and higher-rank leaves only: the usual weight-decay mask (no decay on norms, biases). */
export const matricesOnly = (leaf: np.Array): boolean => leaf.ndim >= 2;
