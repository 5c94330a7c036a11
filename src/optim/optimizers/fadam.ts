/**
 * fadam — Fisher Adam (Hwang 2024, "FAdam: Adam is a natural gradient optimizer using diagonal
 * empirical Fisher information", arXiv 2405.12807, Algorithm 1), per leaf at step t:
 *   β2ₜ = β2(1 − β2^(t−1))/(1 − β2^t)           (bias correction folded into the decay)
 *   F ← β2ₜ·F + (1 − β2ₜ)·g²                     (diagonal empirical Fisher)
 *   ε' = min(1, rms(g))·ε,   B = F^p + ε'
 *   ḡ = g/B,  ḡ ← ḡ / max(1, rms(ḡ)/c)          (clip the natural gradient's RMS at c)
 *   m ← β1 m + (1−β1) ḡ
 *   w = p/B,  w ← w / max(1, rms(w)/c)           (weight decay in the same Fisher geometry)
 *   p ← p − η(m + λ·w)
 * Reference: pytorch_optimizer fadam.py (read, not copied; written again in
 * tools/fixtures/adaptive_optimizers.py). One difference: pytorch_optimizer divides by
 * max(1, rms)/c, we by max(1, rms/c) as the paper's clipping; they agree at the default c = 1.
 * Defaults: η 1e-3, β 0.9/0.999, λ 0.1, c 1, p 0.5, ε 1e-8. Everything stays on the device.
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { chain, type GradientTransformation, type ScalarOrSchedule } from "../core.js";
import { mapMulti } from "../leafwise.js";
import { biasCorrection, ema, emaSquare } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import * as check from "../validate.js";
import { adamOptions } from "./adam.js";

/** Options of {@link fadam}. */
export interface FadamOptions {
  learningRate?: ScalarOrSchedule;
  b1?: number;
  b2?: number;
  eps?: number;
  weightDecay?: number;
  /** RMS clip threshold c. */
  clip?: number;
  /** Power p of the Fisher in the preconditioner. */
  p?: number;
}

/** FAdam's state: the step count, the momentum and the diagonal empirical Fisher. */
export interface FadamState {
  count: number;
  mu: Params;
  fisher: Params;
}

const rms = (x: np.Array) => np.sqrt(x.ref.mul(x).mean());

/** x / max(1, rms(x)/c). Consumes x. */
const clipRms = (x: np.Array, c: number) => x.ref.div(np.maximum(rms(x).div(c), 1));

function scaleByFadam(o: {
  b1: number;
  b2: number;
  eps: number;
  weightDecay: number;
  clip: number;
  p: number;
}): GradientTransformation<FadamState> {
  const power = (f: np.Array) => (o.p === 0.5 ? np.sqrt(f) : np.power(f, o.p));
  return {
    init(params) {
      const state = { count: 0, mu: tree.zerosLike(params), fisher: tree.zerosLike(params) };
      tree.dispose(params);
      return state;
    },
    update(updates, state, params) {
      if (params === undefined) throw new Error("fadam needs params in update()");
      const t = state.count + 1;
      const b2t = (o.b2 * biasCorrection(o.b2, t - 1)) / biasCorrection(o.b2, t);
      const fisher = tree.map(
        (g: np.Array, f: np.Array) => emaSquare(f, g.ref, b2t),
        updates,
        state.fisher,
      );
      const [out, mu] = mapMulti(
        2,
        (g, f, m0, w) => {
          const floor = np.minimum(rms(g.ref), 1).mul(o.eps);
          const base = power(f.ref).add(floor);
          const natural = clipRms(g.div(base.ref), o.clip);
          const m = ema(m0, natural, o.b1);
          const decay = clipRms(w.div(base), o.clip);
          return [m.ref.add(decay.mul(o.weightDecay)), m];
        },
        updates,
        fisher,
        state.mu,
        params,
      );
      return [out, { count: t, mu, fisher }];
    },
  };
}

/** The authors' defaults (the learning rate, 1e-3, apart). */
export const FADAM_DEFAULTS = {
  b1: 0.9,
  b2: 0.999,
  eps: 1e-8,
  weightDecay: 0.1,
  clip: 1,
  p: 0.5,
} as const;

/**
 * FAdam (Hwang 2024): Adam as a natural-gradient method with the diagonal empirical Fisher; the
 * natural gradient and the weight decay are RMS-clipped in the Fisher geometry.
 */
export function fadam(options: FadamOptions = {}) {
  check.knownOptions("fadam", options, [...Object.keys(FADAM_DEFAULTS), "learningRate"]);
  const o = { ...FADAM_DEFAULTS, ...options };
  return chain(
    scaleByFadam({
      ...adamOptions(o),
      weightDecay: check.nonNegative("weightDecay", o.weightDecay),
      clip: check.positive("clip", o.clip),
      p: check.positive("p", o.p),
    }),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-3)),
  );
}
