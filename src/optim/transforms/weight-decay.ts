/**
 * Weight decay, in the two places optimizers put it.
 *
 * addDecayedWeights — u ← u + λ·p. Before the adaptive scaling it is L2 regularisation (torch Adam's
 * `weight_decay`); after it and before the learning rate it is decoupled weight decay (AdamW).
 * `mask` restricts it to some leaves (e.g. matrices only).
 *
 * decayAfterStep — after the learning rate: p ← (p + u)·(1 − ηλ), the step first and the decay of
 * the stepped weights second, as the SPAM, GaLore and SOAP codes order them (torch's AdamW decays
 * the weights before the step). Emitted as the update u·(1 − ηλ) − ηλ·p; `stepThenDecay` is the
 * same rule for one leaf, for methods that emit their step leaf by leaf.
 *
 * The `optional…` forms return chain entries, none at λ = 0 (no state, no work). All compiled over
 * the whole tree; λ and η travel as arguments, so a schedule never recompiles.
 */
import type { numpy as np } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import {
  evaluate,
  type GradientTransformation,
  type LeafSpec,
  masked,
  optional,
  type ScalarOrSchedule,
  statelessTree,
} from "../core.js";
import { leafwise } from "../leafwise.js";
import type { CountState } from "./scale.js";

const decayLeaves = leafwise(([u, p], [rate]) => [u.add(p.mul(rate))]);

/**
 * u ← u + λ·p: L2 regularisation before an adaptive scaling, decoupled weight decay (AdamW's) after
 * it and before the learning rate. `mask` restricts it to some leaves.
 */
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

/** `addDecayedWeights(λ, mask)` as chain entries: none when λ = 0. */
export const optionalDecay = (
  weightDecay: number,
  mask?: LeafSpec<boolean>,
): GradientTransformation<any>[] =>
  optional(weightDecay > 0, () => addDecayedWeights(weightDecay, mask));

/** u·(1 − r) − r·p for one leaf: the step u (already −η-scaled), then p ← p·(1 − r). Consumes u, p. */
export const stepThenDecay = (u: np.Array, p: np.Array, rate: number): np.Array =>
  u.mul(1 - rate).sub(p.mul(rate));

const stepThenDecayLeaves = leafwise(([u, p], [keep, rate]) => [u.mul(keep).sub(p.mul(rate))]);

/** Decay after the step with rate η(step)·λ (goes after scaleByLearningRate). Needs params. */
export function decayAfterStep(
  learningRate: ScalarOrSchedule,
  weightDecay: number,
): GradientTransformation<CountState> {
  return {
    init(params) {
      tree.dispose(params);
      return { count: 0 };
    },
    update(updates, state, params) {
      if (params === undefined) throw new Error("decayAfterStep needs params in update()");
      const rate = evaluate(learningRate, state.count) * weightDecay;
      const [out] = stepThenDecayLeaves([updates, params], [1 - rate, rate]);
      return [out, { count: state.count + 1 }];
    },
  };
}

/** `decayAfterStep(η, λ)` as chain entries: none when λ = 0. */
export const optionalDecayAfterStep = (
  learningRate: ScalarOrSchedule,
  weightDecay: number,
): GradientTransformation<CountState>[] =>
  optional(weightDecay > 0, () => decayAfterStep(learningRate, weightDecay));
