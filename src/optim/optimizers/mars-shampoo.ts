/**
 * mars-shampoo — MARS-Shampoo (Yuan et al. 2024, arXiv 2411.10438) as the authors' code runs it:
 * Shampoo's update is approximated by orthogonalising the momentum (Newton–Schulz), so that for a
 * matrix leaf G (≥3-D viewed as (out, −1)):
 *   c = g + γ·β1/(1−β1)·(g − g_prev),  c ← c / max(1, ‖c‖)     (transforms/mars-correction.ts)
 *   m ← β1·m + (1−β1)·c
 *   O = NS5(m/(1−β1)) with X₀ = M/(‖M‖_F + eps)                   (linalg/newton-schulz.ts)
 *   p ← p − η·(√max(1, rows/cols)·O + λ·p)
 * With optimize1d, vectors take MARS-AdamW (mars.ts, decay λ); else AdamW with the *1d options.
 * Reference: AGI-Arena/MARS MARS/optimizers/mars.py, mars_type "mars-shampoo" and NewtonSchulz
 * (read, not copied), re-implemented in tools/fixtures/round2b_mars.py.
 * Defaults: the authors' (η 3e-3, β (0.95, 0.99) — β2 only for optimize1d's vectors — γ 0.025,
 * eps 1e-8, λ 0; 1-D: η 3e-3, β (0.9, 0.95), λ 0.1).
 * Deviations: Newton–Schulz in float32 (the authors: bfloat16); a leaf is a matrix when ndim ≥ 2.
 */
import type { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { orthogonalizeJit } from "../../linalg/newton-schulz.js";
import { chain, type GradientTransformation, type ScalarOrSchedule } from "../core.js";
import { marsCorrection } from "../transforms/mars-correction.js";
import { asMatrix } from "../transforms/matrix-partition.js";
import { ema, zeroMoments } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { adamOptions } from "./adam.js";
import { mars } from "./mars.js";
import { MARS_VECTOR_DEFAULTS, type MarsVectorOptions, marsSplit } from "./mars-split.js";

/** Options of {@link marsShampoo}. */
export interface MarsShampooOptions extends MarsVectorOptions {
  learningRate?: ScalarOrSchedule;
  b1?: number;
  /** Used only by MARS-AdamW on vectors (optimize1d). */
  b2?: number;
  gamma?: number;
  eps?: number;
  weightDecay?: number;
}

/** √max(1, rows/cols)·NS5(m/(1−β1)) after m ← β1·m + (1−β1)·c (matrix leaves). */
export function scaleByOrthogonalMomentum(
  b1: number,
  eps: number,
): GradientTransformation<{ mu: Params }> {
  return {
    init: (params) => zeroMoments(params, ["mu"]),
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const mu = tree.map((c: np.Array, m: np.Array) => ema(m, c, b1), updates, state.mu);
      const out = tree.mapWithPath((m: np.Array, path) => {
        const shape = m.shape;
        const x = asMatrix(m.ref, "marsShampoo", path);
        const [rows, cols] = x.shape;
        const o = orthogonalizeJit(x.mul(1 / (1 - b1)), 5, eps);
        return o.mul(Math.sqrt(Math.max(1, rows / cols))).reshape(shape);
      }, mu);
      return [out, { mu }];
    },
  };
}

/** The authors' defaults (the learning rate, 3e-3, apart). */
export const MARS_SHAMPOO_DEFAULTS = {
  b1: 0.95,
  b2: 0.99,
  gamma: 0.025,
  eps: 1e-8,
  weightDecay: 0,
  ...MARS_VECTOR_DEFAULTS,
} as const;

/** MARS-Shampoo: orthogonalised momentum of MARS's variance-reduced gradient. */
export function marsShampoo(options: MarsShampooOptions = {}) {
  check.knownOptions("marsShampoo", options, [
    ...Object.keys(MARS_SHAMPOO_DEFAULTS),
    "learningRate",
  ]);
  const o = { ...MARS_SHAMPOO_DEFAULTS, ...options };
  const { b1, b2, eps } = adamOptions(o);
  const gamma = check.nonNegative("gamma", o.gamma);
  const weightDecay = check.nonNegative("weightDecay", o.weightDecay);
  const learningRate = check.learningRate(o.learningRate ?? 3e-3);
  const matrices = chain(
    marsCorrection({ gamma, b1 }),
    scaleByOrthogonalMomentum(b1, eps),
    ...optionalDecay(weightDecay),
    scaleByLearningRate(learningRate),
  );
  const vectors = () => mars({ learningRate, b1, b2, gamma, eps, weightDecay, optimize1d: true });
  return marsSplit(matrices, vectors, { ...o, eps });
}
