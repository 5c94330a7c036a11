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
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { chain, type GradientTransformation, partition, type ScalarOrSchedule } from "../core.js";
import { adamDirection, scaleByAdam } from "../transforms/adam.js";
import { adamMoments, zeroMoments } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { adamOptions } from "./adam.js";

/** Options of {@link mars}. */
export interface MarsOptions {
  learningRate?: ScalarOrSchedule;
  b1?: number;
  b2?: number;
  /** Strength γ of the variance-reduction correction. */
  gamma?: number;
  eps?: number;
  weightDecay?: number;
  /** Use MARS on vectors too (else AdamW with the *1d options). */
  optimize1d?: boolean;
  learningRate1d?: ScalarOrSchedule;
  betas1d?: [number, number];
  weightDecay1d?: number;
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
      const corrected = tree.map(
        (g: np.Array, prev: np.Array) => {
          const c = g.ref.add(g.ref.sub(prev).mul(k));
          const norm = np.sqrt(c.ref.mul(c.ref).sum());
          return c.div(np.maximum(norm, 1));
        },
        updates,
        state.previous,
      );
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
  optimize1d: false,
  learningRate1d: 3e-3,
  betas1d: [0.9, 0.95],
  weightDecay1d: 0.1,
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
  if (check.boolean("optimize1d", o.optimize1d)) return matrices;
  const pair = o.betas1d;
  if (!Array.isArray(pair) || pair.length !== 2) {
    throw new TypeError(`betas1d must be a pair [b1, b2], got ${JSON.stringify(pair)}`);
  }
  const vectors = chain(
    scaleByAdam({
      b1: check.unitInterval("betas1d[0]", pair[0]),
      b2: check.unitInterval("betas1d[1]", pair[1]),
      eps: betas.eps,
    }),
    ...optionalDecay(check.nonNegative("weightDecay1d", o.weightDecay1d)),
    scaleByLearningRate(check.learningRate(o.learningRate1d, "learningRate1d")),
  );
  return partition({ mars: matrices, adamw: vectors }, (leaf) =>
    leaf.ndim >= 2 ? "mars" : "adamw",
  );
}
