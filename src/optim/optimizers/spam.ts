/**
 * spam — Spike-Aware Adam with Momentum Reset (Huang et al. 2025, "SPAM: Spike-Aware Adam with
 * Momentum Reset for Stable LLM Training", arXiv 2501.06842). At step t (1-based), per leaf:
 *   if ΔT > 0 and t mod ΔT = 0:  m ← 0, v ← 0                    (momentum reset)
 *   if t ≥ N (and t mod ΔT ≥ N):  g² > θ·v ⇒ g ← sign(g)·sqrt(θ·v)   (spike clipping, v before
 *                                  this step; transforms/spike-clip.ts)
 *   m ← β1 m + (1−β1) g,  v ← β2 v + (1−β2) g²
 *   d = s_k · sqrt(1−β2^t)/(1−β1^t) · m/(sqrt(v) + ε)      (bias correction counts from t = 1,
 *                                                            not from the last reset)
 *   s_k = 1 − 0.99·(1 + cos(π·k/(W+1)))/2 for k = t − (last reset) < W, else 1   (cosine warm-up)
 *   p ← (p − η·d)·(1 − ηλ)                                    (decay applied after the step)
 * ΔT = resetInterval (0: never), W = warmupSteps, θ = theta (0: no clipping), N = clipDelay.
 *
 * Reference: the authors' code (TianjinYellow/SPAM-Optimizer, galore_torch/SPAM.py, read through
 * the ffuhu/SPAM-Optimizer copy; not copied); fixture written from it in
 * tools/fixtures/adaptive_optimizers.py. ε sits outside the bias correction, as there (default
 * 1e-6). The Adam part reuses adamDirection with ε/sqrt(1−β2^t), which is the same expression.
 * Deviations: the sparse-momentum variant (random `density` masks) is not offered; without it the
 * authors' code never resets (its gap is only set for masked groups), here resetInterval applies
 * to every leaf. No warm-up before the first reset, as in the code.
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { chain, evaluate, type GradientTransformation, type ScalarOrSchedule } from "../core.js";
import { adamDirection } from "../transforms/adam.js";
import { biasCorrection, ema, emaSquare, zeroMoments } from "../transforms/moments.js";
import { type CountState, scaleByLearningRate } from "../transforms/scale.js";
import { clipSpikesBySecondMoment } from "../transforms/spike-clip.js";
import * as check from "../validate.js";

export interface SpamOptions {
  learningRate?: ScalarOrSchedule;
  b1?: number;
  b2?: number;
  eps?: number;
  weightDecay?: number;
  /** Momentum reset every ΔT steps; 0: never. */
  resetInterval?: number;
  /** Cosine warm-up length W after each reset. */
  warmupSteps?: number;
  /** Spike threshold θ on g²/v; 0 turns clipping off. */
  theta?: number;
  /** Steps (N) before clipping starts, and after each reset. */
  clipDelay?: number;
}

export interface SpamState {
  count: number;
  mu: Params;
  nu: Params;
}

interface Resolved {
  b1: number;
  b2: number;
  eps: number;
  resetInterval: number;
  warmupSteps: number;
  theta: number;
  clipDelay: number;
}

/** The warm-up factor s_k for step t (1 before the first reset and after W steps). */
function warmupFactor(o: Resolved, t: number): number {
  if (o.resetInterval === 0 || t < o.resetInterval) return 1;
  const k = t % o.resetInterval;
  if (k >= o.warmupSteps) return 1;
  return 1 - (0.99 * (1 + Math.cos((Math.PI * k) / (o.warmupSteps + 1)))) / 2;
}

function scaleBySpam(o: Resolved): GradientTransformation<SpamState> {
  return {
    init(params) {
      return zeroMoments(params, ["mu", "nu"], { count: 0 });
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const t = state.count + 1;
      const reset = o.resetInterval > 0 && t % o.resetInterval === 0;
      const sinceReset = o.resetInterval > 0 ? t % o.resetInterval : t;
      const clip = o.theta > 0 && t >= o.clipDelay && sinceReset >= o.clipDelay;
      const factor = warmupFactor(o, t);
      // ε outside the bias correction: ε' = ε / sqrt(1 − β2^t) in adamDirection's form.
      const adam = { b1: o.b1, b2: o.b2, eps: o.eps / Math.sqrt(biasCorrection(o.b2, t)) };
      const restart = (a: np.Array) => (reset ? zeroed(a) : a);
      const nus = tree.leaves(state.nu);
      const mus = tree.leaves(state.mu);
      const out: np.Array[] = [];
      const mu: np.Array[] = [];
      const nu: np.Array[] = [];
      tree.leaves(updates).forEach((g0, i) => {
        const m0 = restart(mus[i]);
        const v0 = restart(nus[i]);
        const g = clip ? clipSpikesBySecondMoment(g0, v0.ref, o.theta) : g0;
        const m = ema(m0, g.ref, o.b1);
        const v = emaSquare(v0, g, o.b2);
        const d = adamDirection(m.ref, v.ref, t, adam);
        out.push(factor === 1 ? d : d.mul(factor));
        mu.push(m);
        nu.push(v);
      });
      return [
        tree.unflatten(updates, out),
        { count: t, mu: tree.unflatten(state.mu, mu), nu: tree.unflatten(state.nu, nu) },
      ];
    },
  };
}

/** Zeros shaped like `a` (consumes a). */
function zeroed(a: np.Array): np.Array {
  const z = np.zeros(a.shape, { dtype: a.dtype });
  a.dispose();
  return z;
}

/** u ← u − ηλ·(p + u): weight decay of the already stepped parameters, as SPAM applies it. */
function decayAfterStep(
  learningRate: ScalarOrSchedule,
  weightDecay: number,
): GradientTransformation<CountState> {
  return {
    init(params) {
      tree.dispose(params);
      return { count: 0 };
    },
    update(updates, state, params) {
      if (params === undefined) throw new Error("spam needs params in update() for weightDecay");
      const rate = evaluate(learningRate, state.count) * weightDecay;
      const out = tree.mapWithPath(
        (u: np.Array, _path, p: np.Array) => u.mul(1 - rate).sub(p.mul(rate)),
        updates,
        params,
      );
      return [out, { count: state.count + 1 }];
    },
  };
}

const NAMES = [
  "learningRate",
  "b1",
  "b2",
  "eps",
  "weightDecay",
  "resetInterval",
  "warmupSteps",
  "theta",
  "clipDelay",
] as const;

/** Defaults: the paper's (ΔT 500, W 150, θ 5000) and the code's (ε 1e-6, clipping from step 20). */
export function spam(options: SpamOptions = {}) {
  check.knownOptions("spam", options, NAMES);
  const o: Resolved = {
    b1: check.unitInterval("b1", options.b1 ?? 0.9),
    b2: check.unitInterval("b2", options.b2 ?? 0.999),
    eps: check.nonNegative("eps", options.eps ?? 1e-6),
    resetInterval: check.integer("resetInterval", options.resetInterval ?? 500, 0),
    warmupSteps: check.integer("warmupSteps", options.warmupSteps ?? 150, 0),
    theta: check.nonNegative("theta", options.theta ?? 5000),
    clipDelay: check.integer("clipDelay", options.clipDelay ?? 20, 1),
  };
  const learningRate = check.learningRate(options.learningRate ?? 1e-3);
  const weightDecay = check.nonNegative("weightDecay", options.weightDecay ?? 0);
  return chain(
    scaleBySpam(o),
    scaleByLearningRate(learningRate),
    ...(weightDecay > 0 ? [decayAfterStep(learningRate, weightDecay)] : []),
  );
}
