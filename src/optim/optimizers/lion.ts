/**
 * lion — EvoLved Sign Momentum (Chen et al. 2023), the authors' update:
 *   d = sign(β1·m + (1−β1)·g);  m ← β2·m + (1−β2)·g;  p ← p − η(d + λ·p)   (decoupled decay)
 * Checked against a reference written from google/automl lion_pytorch.py (tools/fixtures).
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { chain, type GradientTransformation, type ScalarOrSchedule } from "../core.js";
import { ema, zeroMoments } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";

/** Options of {@link lion}. */
export interface LionOptions {
  learningRate?: ScalarOrSchedule;
  b1?: number;
  b2?: number;
  weightDecay?: number;
}

/** Lion's direction before the learning rate: sign(β1·m + (1−β1)·g), then m ← β2·m + (1−β2)·g. */
export function scaleByLion(b1: number, b2: number): GradientTransformation<{ mu: Params }> {
  return {
    init: (params) => zeroMoments(params, ["mu"]),
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const out = tree.map(
        (g: np.Array, m: np.Array) => np.sign(ema(m.ref, g.ref, b1)),
        updates,
        state.mu,
      );
      const mu = tree.map((g: np.Array, m: np.Array) => ema(m, g, b2), updates, state.mu);
      return [out, { mu }];
    },
  };
}

/** The authors' defaults (the learning rate, 1e-4, apart). */
export const LION_DEFAULTS = { b1: 0.9, b2: 0.99, weightDecay: 0 } as const;

/** Lion (Chen et al. 2023): the sign of an interpolated momentum, with decoupled weight decay. */
export function lion(options: LionOptions = {}) {
  check.knownOptions("lion", options, [...Object.keys(LION_DEFAULTS), "learningRate"]);
  const o = { ...LION_DEFAULTS, ...options };
  const { b1, b2 } = check.adamOptions(o);
  return chain(
    scaleByLion(b1, b2),
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-4)),
  );
}
