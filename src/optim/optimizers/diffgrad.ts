/**
 * diffgrad — diffGrad (Dubey et al. 2019, "diffGrad: An Optimization Method for Convolutional
 * Neural Networks", arXiv 1909.11015): Adam whose momentum is damped by a friction coefficient
 * that is small where the gradient barely changed:
 *   g ← g + λ·p (L2, as the authors' code),  m, v as Adam,
 *   ξ = sigmoid(|g_prev − g|)   (g_prev = 0 at the first step)
 *   d = sqrt(1−β2^t)/(1−β1^t) · ξ·m / (sqrt(v) + ε);   p ← p − η·d
 * Reference: the authors' diffGrad_v2.py (shivram1987/diffGrad, the version that fixes the stale
 * previous-gradient bug; read, not copied), re-implemented in tools/fixtures/adaptive_optimizers.py.
 * ε sits outside the bias correction as there; adamDirection gets ε/sqrt(1−β2^t), the same thing.
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { chain, type GradientTransformation } from "../core.js";
import { adamDirection } from "../transforms/adam.js";
import { adamMoments, biasCorrection, zeroMoments } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { ADAM_BASE_DEFAULTS, type AdamOptions, adamOptions } from "./adam.js";

/** diffGrad's state: Adam's moments and the previous gradient. */
export interface DiffgradState {
  count: number;
  mu: Params;
  nu: Params;
  previous: Params;
}

/** diffGrad's direction before the learning rate (see {@link diffgrad}). */
export function scaleByDiffgrad(o: {
  b1: number;
  b2: number;
  eps: number;
}): GradientTransformation<DiffgradState> {
  return {
    init(params) {
      return zeroMoments(params, ["mu", "nu", "previous"], { count: 0 });
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const t = state.count + 1;
      const adam = { b1: o.b1, b2: o.b2, eps: o.eps / Math.sqrt(biasCorrection(o.b2, t)) };
      const [mu, nu] = adamMoments(updates, state.mu, state.nu, o.b1, o.b2);
      const out = tree.map(
        (g: np.Array, prev: np.Array, m: np.Array, v: np.Array) => {
          // ξ·m = m / (1 + exp(−|g_prev − g|))
          const damped = m.ref.div(np.exp(np.abs(prev.sub(g.ref)).neg()).add(1));
          return adamDirection(damped, v.ref, t, adam);
        },
        updates,
        state.previous,
        mu,
        nu,
      );
      return [out, { count: t, mu, nu, previous: updates }];
    },
  };
}

/** The authors' defaults (Adam's; the learning rate, 1e-3, apart). */
export const DIFFGRAD_DEFAULTS = ADAM_BASE_DEFAULTS;

/**
 * diffGrad (Dubey et al. 2019): Adam whose momentum is damped by sigmoid(|g_prev − g|) where the
 * gradient barely changes.
 */
export function diffgrad(options: Omit<AdamOptions, "amsgrad"> = {}) {
  check.knownOptions("diffgrad", options, [...Object.keys(DIFFGRAD_DEFAULTS), "learningRate"]);
  const o = { ...DIFFGRAD_DEFAULTS, ...options };
  return chain(
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    scaleByDiffgrad(adamOptions(o)),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-3)),
  );
}
