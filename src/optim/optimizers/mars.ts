/**
 * mars — MARS-AdamW (Yuan et al. 2024, "MARS: Unleashing the Power of Variance Reduction for
 * Training Large Models", arXiv 2411.10438), the approximate variant (previous step's gradient):
 *   c = g + γ·β1/(1−β1)·(g − g_prev)     (g_prev = 0 at the first step)
 *   c ← c / max(1, ‖c‖)                   (per-leaf norm clipped at 1)
 *   m ← β1 m + (1−β1) c,  v ← β2 v + (1−β2) c²
 *   d = Adam direction (transforms/adam.ts) + λ·p;   p ← p − η·d
 * Matrices only by default: other leaves get AdamW with their own lr / betas / decay
 * (learningRate1d, betas1d, weightDecay1d), as the authors' optimize_1d = False; with
 * optimize1d every leaf uses MARS with λ = weightDecay.
 * Reference: the authors' code (AGI-Arena/MARS, MARS/optimizers/mars.py, mars-adamw, is_approx;
 * read, not copied), re-implemented in tools/fixtures/adaptive_optimizers.py. Defaults are theirs:
 * η 3e-3, β (0.95, 0.99), γ 0.025, λ 0, 1-D: η 3e-3, β (0.9, 0.95), λ 0.1.
 * Deviations: a leaf counts as a matrix when ndim ≥ 2 (the authors: exactly 2); the 1-D
 * learning rate is its own value or schedule (the authors scale it with the main schedule).
 */
import type { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { chain, type GradientTransformation, type ScalarOrSchedule } from "../core.js";
import { adamDirection } from "../transforms/adam.js";
import { marsCorrected } from "../transforms/mars-correction.js";
import { adamMoments, zeroMoments } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { adamOptions } from "./adam.js";
import { MARS_VECTOR_DEFAULTS, type MarsVectorOptions, marsSplit } from "./mars-split.js";

/** Options of {@link mars}. */
export interface MarsOptions extends MarsVectorOptions {
  learningRate?: ScalarOrSchedule;
  b1?: number;
  b2?: number;
  /** Strength γ of the variance-reduction correction. */
  gamma?: number;
  eps?: number;
  weightDecay?: number;
}

/** MARS's state: the step count, Adam's moments and the previous gradient. */
export interface MarsState {
  count: number;
  mu: Params;
  nu: Params;
  previous: Params;
}

/** MARS's direction before the learning rate (see {@link mars}). */
export function scaleByMars(o: {
  b1: number;
  b2: number;
  gamma: number;
  eps: number;
}): GradientTransformation<MarsState> {
  const k = (o.gamma * o.b1) / (1 - o.b1);
  return {
    init(params) {
      return zeroMoments(params, ["mu", "nu", "previous"], { count: 0 });
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const t = state.count + 1;
      const corrected = marsCorrected(updates, state.previous, k);
      const [mu, nu] = adamMoments(corrected, state.mu, state.nu, o.b1, o.b2);
      tree.dispose(corrected);
      const out = tree.map((m: np.Array, v: np.Array) => adamDirection(m.ref, v.ref, t, o), mu, nu);
      return [out, { count: t, mu, nu, previous: updates }];
    },
  };
}

/**
 * The authors' defaults (the learning rate, 3e-3, apart): MARS on matrices, AdamW with the *1d
 * options on vectors.
 */
export const MARS_DEFAULTS = {
  b1: 0.95,
  b2: 0.99,
  gamma: 0.025,
  eps: 1e-8,
  weightDecay: 0,
  ...MARS_VECTOR_DEFAULTS,
} as const;

/**
 * MARS-AdamW (Yuan et al. 2024), approximate variant: AdamW on a variance-reduced gradient g +
 * γ·β1/(1−β1)·(g − g_prev), norm-clipped at 1.
 */
export function mars(options: MarsOptions = {}) {
  check.knownOptions("mars", options, [...Object.keys(MARS_DEFAULTS), "learningRate"]);
  const o = { ...MARS_DEFAULTS, ...options };
  const betas = adamOptions(o);
  const matrices = chain(
    scaleByMars({ ...betas, gamma: check.nonNegative("gamma", o.gamma) }),
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 3e-3)),
  );
  return marsSplit(matrices, undefined, { ...o, eps: betas.eps });
}
