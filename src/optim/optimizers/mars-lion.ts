/**
 * mars-lion — MARS-Lion (Yuan et al. 2024, "MARS: Unleashing the Power of Variance Reduction for
 * Training Large Models", arXiv 2411.10438), the approximate variant:
 *   c = g + γ·β1/(1−β1)·(g − g_prev),  c ← c / max(1, ‖c‖)     (transforms/mars-correction.ts)
 *   m ← β1·m + (1−β1)·c;   p ← p − η·(sign(m) + λ·p)
 * Unlike Lion there is one β: the sign is taken of the updated momentum itself.
 * Vectors: AdamW with the *1d options unless optimize1d (mars-split.ts).
 * Reference: AGI-Arena/MARS MARS/optimizers/mars.py, mars_type "mars-lion" (read, not copied),
 * re-implemented in tools/fixtures/round2b_mars.py (test/optim/round2b-mars.test.ts).
 * Defaults: the authors' (β1 0.95, γ 0.025, λ 0; 1-D: η 3e-3, β (0.9, 0.95), λ 0.1), except the
 * learning rate: 1e-4, Lion's (the authors' class default 3e-3 is the AdamW type's; a sign step
 * is larger than an Adam step). Deviation: a leaf is a matrix when ndim ≥ 2 (the authors: 2).
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { chain, type GradientTransformation, type ScalarOrSchedule } from "../core.js";
import { marsCorrection } from "../transforms/mars-correction.js";
import { ema, zeroMoments } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { MARS_VECTOR_DEFAULTS, type MarsVectorOptions, marsSplit } from "./mars-split.js";

/** Options of {@link marsLion}. */
export interface MarsLionOptions extends MarsVectorOptions {
  learningRate?: ScalarOrSchedule;
  b1?: number;
  gamma?: number;
  /** eps of the 1-D AdamW. */
  eps?: number;
  weightDecay?: number;
}

/** sign(m) after m ← β1·m + (1−β1)·c. */
export function scaleBySignedMomentum(b1: number): GradientTransformation<{ mu: Params }> {
  return {
    init: (params) => zeroMoments(params, ["mu"]),
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const mu = tree.map((c: np.Array, m: np.Array) => ema(m, c, b1), updates, state.mu);
      return [tree.map((m: np.Array) => np.sign(m.ref), mu), { mu }];
    },
  };
}

/** The authors' defaults (the learning rate, 1e-4, apart). */
export const MARS_LION_DEFAULTS = {
  b1: 0.95,
  gamma: 0.025,
  eps: 1e-8,
  weightDecay: 0,
  ...MARS_VECTOR_DEFAULTS,
} as const;

/** MARS-Lion: the sign of the momentum of MARS's variance-reduced gradient. */
export function marsLion(options: MarsLionOptions = {}) {
  check.knownOptions("marsLion", options, [...Object.keys(MARS_LION_DEFAULTS), "learningRate"]);
  const o = { ...MARS_LION_DEFAULTS, ...options };
  const b1 = check.unitInterval("b1", o.b1);
  const eps = check.nonNegative("eps", o.eps);
  const method = () =>
    chain(
      marsCorrection({ gamma: check.nonNegative("gamma", o.gamma), b1 }),
      scaleBySignedMomentum(b1),
      ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
      scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-4)),
    );
  return marsSplit(method(), method, { ...o, eps });
}
