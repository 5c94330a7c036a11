/**
 * cautiousWeightDecay — Cautious Weight Decay (Chen et al. 2025, "Cautious Weight Decay"):
 * decoupled decay only on the coordinates where the update and the parameter have the same sign,
 * i.e. where the step already moves the parameter towards zero:
 *   u ← u + λ · 1[u ⊙ p ≥ 0] ⊙ p
 * Place it where addDecayedWeights would go for decoupled decay: after the optimizer's direction,
 * before scaleByLearningRate (chain(scaleByAdam(), cautiousWeightDecay(λ), scaleByLearningRate(η))
 * is AdamW with CWD). Checked against a reference written from the paper's update
 * (tools/fixtures/adaptive_optimizers.py). `mask` restricts it to some leaves.
 */
import { numpy as np } from "@jax-js/jax";
import {
  type GradientTransformation,
  type LeafSpec,
  masked,
  statelessWithParams,
} from "../core.js";
import * as check from "../validate.js";

/**
 * Cautious weight decay: decoupled decay λ·p only where the update and the parameter have the same
 * sign (Chen et al. 2025); `mask` limits it to some leaves.
 */
export function cautiousWeightDecay(
  weightDecay: number,
  mask?: LeafSpec<boolean>,
): GradientTransformation<any> {
  check.nonNegative("weightDecay", weightDecay);
  const inner = statelessWithParams("cautiousWeightDecay", (u, p) => {
    const same = u.ref.mul(p.ref).greaterEqual(0);
    return u.add(np.where(same, p.mul(weightDecay), 0));
  });
  return mask === undefined ? inner : masked(inner, mask);
}
