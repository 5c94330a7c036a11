/**
 * grams — Gradient Descent with Adaptive Momentum Scaling (Cao, Li & Song 2024, arXiv
 * 2412.17107): Adam's magnitudes with the current gradient's signs.
 *   u = Adam direction (transforms/adam.ts);   d = |u| ⊙ sign(g) + λ·p;   p ← p − η·d
 * `withGradientSign(inner)` is the sign swap as a wrapper (any direction-producing transformation).
 * Reference: written from the paper's Algorithm 1 (tools/fixtures/adaptive_optimizers.py).
 * pytorch_optimizer's Grams was read and not followed: it updates m with lerp(g, β1), i.e. with
 * the roles of β1 and 1−β1 swapped, and divides v by sqrt(1−β2^t) before the square root.
 * Defaults: Adam's (η 1e-3, β 0.9/0.999, ε 1e-8), λ 0 (decoupled); `amsgrad` as in adam.
 */
import { numpy as np } from "@jax-js/jax";
import { chain, type GradientTransformation, type State } from "../core.js";
import { scaleByAdam } from "../transforms/adam.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import { withGradient } from "../transforms/with-gradient.js";
import * as check from "../validate.js";
import { ADAM_DEFAULTS, type AdamOptions, adamOptions } from "./adam.js";

/** u ← |u| ⊙ sign(g), g being the incoming update (the gradient). */
export const withGradientSign = <S extends State>(inner: GradientTransformation<S>) =>
  withGradient(inner, (u, g) => np.abs(u).mul(np.sign(g)));

/** Adam's defaults with decoupled weight decay 0 (the learning rate, 1e-3, apart). */
export const GRAMS_DEFAULTS = ADAM_DEFAULTS;

/** Grams (Cao et al. 2024): Adam's magnitudes with the current gradient's signs. */
export function grams(options: AdamOptions = {}) {
  check.knownOptions("grams", options, [...Object.keys(GRAMS_DEFAULTS), "learningRate"]);
  const o = { ...GRAMS_DEFAULTS, ...options };
  const direction = { ...adamOptions(o), amsgrad: check.boolean("amsgrad", o.amsgrad) };
  return chain(
    withGradientSign(scaleByAdam(direction)),
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-3)),
  );
}
