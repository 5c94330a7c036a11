/**
 * signum and signSgd (Bernstein et al. 2018, signSGD with majority vote):
 *   signSgd: p ← p − η·sign(g)
 *   signum:  g ← g + λ·p;  m ← μ·m + (1−μ)·g;  p ← p − η·sign(m)
 * Checked against a reference written from the paper (tools/fixtures/classic_optimizers.py).
 */
import type { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { chain, type GradientTransformation, optional, type ScalarOrSchedule } from "../core.js";
import { ema, zeroMoments } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { scaleBySign } from "../transforms/sign.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";

/** m ← μ·m + (1−μ)·g, emitted as the update (an EMA of the updates, zero-initialised). */
export function emaTrace(decay: number): GradientTransformation<{ mu: Params }> {
  return {
    init: (params) => zeroMoments(params, ["mu"]),
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const mu = tree.map((g: np.Array, m: np.Array) => ema(m, g, decay), updates, state.mu);
      return [tree.share(mu), { mu }];
    },
  };
}

/** Bernstein et al.'s momentum 0.9; no weight decay. */
export const SIGNUM_DEFAULTS = { momentum: 0.9, weightDecay: 0 } as const;

/** Signum (Bernstein et al. 2018): the sign of the momentum, with L2 weight decay. */
export function signum(options: {
  learningRate: ScalarOrSchedule;
  momentum?: number;
  weightDecay?: number;
}) {
  check.knownOptions("signum", options, [...Object.keys(SIGNUM_DEFAULTS), "learningRate"]);
  const o = { ...SIGNUM_DEFAULTS, ...options };
  const momentum = check.unitInterval("momentum", o.momentum);
  return chain(
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    ...optional(momentum > 0, () => emaTrace(momentum)),
    scaleBySign(),
    scaleByLearningRate(check.learningRate(o.learningRate)),
  );
}

/** signSGD (Bernstein et al. 2018): p ← p − η·sign(g). */
export function signSgd(options: { learningRate: ScalarOrSchedule }) {
  check.knownOptions("signSgd", options, ["learningRate"]);
  return chain(scaleBySign(), scaleByLearningRate(check.learningRate(options.learningRate)));
}
