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
import { ema, emaSquare, zeroMoments } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { addDecayedWeights } from "../transforms/weight-decay.js";
import * as check from "../validate.js";

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

export interface MarsState {
  count: number;
  mu: Params;
  nu: Params;
  previous: Params;
}

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
      const corrected = tree.mapWithPath(
        (g: np.Array, _p, prev: np.Array) => {
          const c = g.ref.add(g.ref.sub(prev).mul(k));
          const norm = np.sqrt(c.ref.mul(c.ref).sum());
          return c.div(np.maximum(norm, 1));
        },
        updates,
        state.previous,
      );
      const mu = tree.mapWithPath(
        (c: np.Array, _p, m: np.Array) => ema(m, c.ref, o.b1),
        corrected,
        state.mu,
      );
      const nu = tree.mapWithPath(
        (c: np.Array, _p, v: np.Array) => emaSquare(v, c, o.b2),
        corrected,
        state.nu,
      );
      const out = tree.mapWithPath(
        (m: np.Array, _p, v: np.Array) => adamDirection(m.ref, v.ref, t, o),
        mu,
        nu,
      );
      return [out, { count: t, mu, nu, previous: updates }];
    },
  };
}

export function mars(options: MarsOptions = {}) {
  check.knownOptions("mars", options, [
    "learningRate",
    "b1",
    "b2",
    "gamma",
    "eps",
    "weightDecay",
    "optimize1d",
    "learningRate1d",
    "betas1d",
    "weightDecay1d",
  ]);
  const o = {
    b1: check.unitInterval("b1", options.b1 ?? 0.95),
    b2: check.unitInterval("b2", options.b2 ?? 0.99),
    gamma: check.nonNegative("gamma", options.gamma ?? 0.025),
    eps: check.nonNegative("eps", options.eps ?? 1e-8),
  };
  const learningRate = check.learningRate(options.learningRate ?? 3e-3);
  const weightDecay = check.nonNegative("weightDecay", options.weightDecay ?? 0);
  const optimize1d = check.boolean("optimize1d", options.optimize1d ?? false);
  const matrices = chain(
    scaleByMars(o),
    ...(weightDecay > 0 ? [addDecayedWeights(weightDecay)] : []),
    scaleByLearningRate(learningRate),
  );
  if (optimize1d) return matrices;
  const betas = options.betas1d ?? [0.9, 0.95];
  if (!Array.isArray(betas) || betas.length !== 2) {
    throw new TypeError(`betas1d must be a pair [b1, b2], got ${JSON.stringify(betas)}`);
  }
  const weightDecay1d = check.nonNegative("weightDecay1d", options.weightDecay1d ?? 0.1);
  const vectors = chain(
    scaleByAdam({
      b1: check.unitInterval("betas1d[0]", betas[0]),
      b2: check.unitInterval("betas1d[1]", betas[1]),
      eps: o.eps,
    }),
    ...(weightDecay1d > 0 ? [addDecayedWeights(weightDecay1d)] : []),
    scaleByLearningRate(check.learningRate(options.learningRate1d ?? 3e-3, "learningRate1d")),
  );
  return partition({ mars: matrices, adamw: vectors }, (leaf) =>
    leaf.ndim >= 2 ? "mars" : "adamw",
  );
}
