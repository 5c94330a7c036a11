/**
 * lamb — layer-wise adaptive moments for large batches (You et al. 2019, "Large Batch
 * Optimization for Deep Learning", Algorithm 2), per tensor:
 *   m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²,  r = m̂ / (√v̂ + ε)   (bias-corrected, as Adam)
 *   u = r + λ·p
 *   p ← p − η · φ(‖p‖) / ‖u‖ · u,   φ(z) = min(z, clampValue)
 * with the trust ratio φ(‖p‖)/‖u‖ taken as 1 when ‖p‖ or ‖u‖ is 0 (NVIDIA apex, optax).
 * Built as chain(scaleByAdam, addDecayedWeights, scaleByTrustRatio, scaleByLearningRate).
 * Checked against tools/fixtures/lamb.py, a torch loop written from the paper (test/optim/lamb.test.ts).
 *
 * Choices where the paper leaves them open: φ clamps at 10 (cybertronai/pytorch-lamb,
 * pytorch_optimizer; clampValue 0 = no clamp, as apex and optax); ε 1e-6 and no weight decay by
 * default (pytorch_optimizer's). No global gradient clipping inside the optimizer (apex's
 * max_grad_norm): chain clipByGlobalNorm before it, or use the trainer's clipping.
 */
import { numpy as np } from "@jax-js/jax";
import {
  chain,
  type GradientTransformation,
  type ScalarOrSchedule,
  statelessTree,
} from "../core.js";
import { leafwise } from "../leafwise.js";
import { scaleByAdam } from "../transforms/adam.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { adamOptions } from "./adam.js";

// ratio = min(‖p‖, clamp)/‖u‖, or 1 when either norm is 0; the 0-branch's division is discarded.
const trustLeaves = leafwise(([u, p], [clamp]) => {
  const pNorm = np.sqrt(p.ref.mul(p).sum());
  const uNorm = np.sqrt(u.ref.mul(u.ref).sum());
  const pPositive = pNorm.ref.greater(0);
  const uPositive = uNorm.ref.greater(0);
  const ratio = np.where(pPositive, np.where(uPositive, np.minimum(pNorm, clamp).div(uNorm), 1), 1);
  return [u.mul(ratio)];
});

/**
 * LAMB's layer-wise trust ratio (You et al. 2019): each leaf's update u is scaled by
 * min(‖p‖, clampValue)/‖u‖ (1 when a norm is 0). `clampValue` 0 or Infinity: no clamp.
 */
export function scaleByTrustRatio(clampValue = 0): GradientTransformation<Record<string, never>> {
  const clamp = clampValue > 0 ? clampValue : Number.POSITIVE_INFINITY;
  return statelessTree(
    (updates, params) => trustLeaves([updates, params], [clamp])[0],
    "scaleByTrustRatio",
  );
}

/** LAMB's defaults (the learning rate, 1e-3, apart): pytorch_optimizer's Lamb. */
export const LAMB_DEFAULTS = {
  b1: 0.9,
  b2: 0.999,
  eps: 1e-6,
  weightDecay: 0,
  clampValue: 10,
} as const;

/** Options of {@link lamb}. */
export interface LambOptions {
  learningRate?: ScalarOrSchedule;
  b1?: number;
  b2?: number;
  eps?: number;
  /** Decoupled weight decay λ, inside the trust ratio (u = r + λp). */
  weightDecay?: number;
  /** Upper clamp of ‖p‖ in the trust ratio; 0 = none. */
  clampValue?: number;
}

/**
 * LAMB (You et al. 2019): Adam's direction plus decoupled weight decay, rescaled per tensor by the
 * trust ratio min(‖p‖, clampValue)/‖u‖.
 */
export function lamb(options: LambOptions = {}) {
  check.knownOptions("lamb", options, [...Object.keys(LAMB_DEFAULTS), "learningRate"]);
  const o = { ...LAMB_DEFAULTS, ...options };
  return chain(
    scaleByAdam(adamOptions(o)),
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    scaleByTrustRatio(check.nonNegative("clampValue", o.clampValue)),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-3)),
  );
}
