/**
 * ademamix — AdEMAMix (Pagliardini, Ablin & Grangier 2024, "The AdEMAMix Optimizer: Better,
 * Faster, Older", arXiv 2409.03152): Adam plus a slow EMA of the gradient, mixed in with weight α.
 *   m1 ← β1 m1 + (1−β1) g,   m2 ← β3(t) m2 + (1−β3(t)) g,   v ← β2 v + (1−β2) g²
 *   d = (m1/(1−β1^t) + α(t)·m2) / (sqrt(v/(1−β2^t)) + ε) + λ·p;   p ← p − η·d
 * (m2 is not bias-corrected.) Warm-ups, t 1-based, over T_α = alphaWarmup and T_β3 = beta3Warmup:
 *   α(t) = α·t/T_α for t < T_α, then α                       (linear from 0)
 *   β3(t) = f⁻¹((1 − t/T)·f(β1) + (t/T)·f(β3)) for t < T, then β3, with the half-life
 *   f(β) = ln(0.5)/ln(β + 1e-8) − 1,  f⁻¹(x) = 0.5^(1/(x+1))  (linear in half-life, from β1)
 * Reference: the authors' PyTorch code (apple/ml-ademamix, pytorch/ademamix.py; read, not
 * copied), re-implemented in tools/fixtures/adaptive_optimizers.py. Defaults are theirs (α = 2,
 * β3 = 0.9999, no warm-up, λ = 0). The direction reuses adamDirection on m1 + α(1−β1^t)·m2.
 * Deviation: the fast EMA is kept even when β1 = 0 (the authors skip it to save memory).
 * (pytorch_optimizer's port also bias-corrects m2 and uses another β3 schedule — not followed.)
 */
import type { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { chain, type GradientTransformation, type ScalarOrSchedule } from "../core.js";
import { adamDirection } from "../transforms/adam.js";
import { biasCorrection, ema, emaSquare, zeroMoments } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { adamOptions } from "./adam.js";

/**
 * Options of {@link ademamix}: Adam's, plus the slow EMA's β3 and mixing weight α with their
 * warm-ups.
 */
export interface AdemamixOptions {
  learningRate?: ScalarOrSchedule;
  b1?: number;
  b2?: number;
  /** Decay of the slow EMA (β3). */
  b3?: number;
  /** Weight of the slow EMA (α). */
  alpha?: number;
  /** Steps of the linear warm-up of α (none when absent). */
  alphaWarmup?: number;
  /** Steps of the half-life warm-up of β3 from β1 (none when absent). */
  beta3Warmup?: number;
  eps?: number;
  /** Decoupled weight decay λ. */
  weightDecay?: number;
}

/** AdEMAMix's state: the step count, the fast and slow first moments and the second moment. */
export interface AdemamixState {
  count: number;
  fast: Params;
  slow: Params;
  nu: Params;
}

const halfLife = (beta: number) => Math.log(0.5) / Math.log(beta + 1e-8) - 1;
const fromHalfLife = (x: number) => 0.5 ** (1 / (x + 1));

/** α(t) of the header. */
export function ademamixAlpha(alpha: number, warmup: number | undefined, t: number): number {
  return warmup !== undefined && t < warmup ? (alpha * t) / warmup : alpha;
}

/** β3(t) of the header. */
export function ademamixBeta3(
  b1: number,
  b3: number,
  warmup: number | undefined,
  t: number,
): number {
  if (warmup === undefined || t >= warmup) return b3;
  const a = t / warmup;
  return fromHalfLife((1 - a) * halfLife(b1) + a * halfLife(b3));
}

/** AdEMAMix's direction before the learning rate (see {@link ademamix}). */
export function scaleByAdemamix(o: {
  b1: number;
  b2: number;
  b3: number;
  alpha: number;
  alphaWarmup?: number;
  beta3Warmup?: number;
  eps: number;
}): GradientTransformation<AdemamixState> {
  return {
    init(params) {
      return zeroMoments(params, ["fast", "slow", "nu"], { count: 0 });
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const t = state.count + 1;
      const alpha = ademamixAlpha(o.alpha, o.alphaWarmup, t);
      const b3 = ademamixBeta3(o.b1, o.b3, o.beta3Warmup, t);
      // (m1/bc1 + α·m2) = (m1 + α·bc1·m2)/bc1: Adam's direction on the mixed momentum.
      const mix = alpha * biasCorrection(o.b1, t);
      const fast = tree.map((g: np.Array, m: np.Array) => ema(m, g.ref, o.b1), updates, state.fast);
      const slow = tree.map((g: np.Array, m: np.Array) => ema(m, g.ref, b3), updates, state.slow);
      const nu = tree.map((g: np.Array, v: np.Array) => emaSquare(v, g, o.b2), updates, state.nu);
      const out = tree.map(
        (m1: np.Array, m2: np.Array, v: np.Array) =>
          adamDirection(m1.ref.add(m2.ref.mul(mix)), v.ref, t, o),
        fast,
        slow,
        nu,
      );
      return [out, { count: t, fast, slow, nu }];
    },
  };
}

/** The authors' defaults (the learning rate, 1e-3, apart); no warm-ups unless given. */
export const ADEMAMIX_DEFAULTS = {
  b1: 0.9,
  b2: 0.999,
  b3: 0.9999,
  alpha: 2,
  alphaWarmup: undefined as number | undefined,
  beta3Warmup: undefined as number | undefined,
  eps: 1e-8,
  weightDecay: 0,
} as const;

/**
 * AdEMAMix (Pagliardini et al. 2024): Adam plus a slow EMA of the gradient mixed in with weight α,
 * with warm-ups of α and β3.
 */
export function ademamix(options: AdemamixOptions = {}) {
  check.knownOptions("ademamix", options, [...Object.keys(ADEMAMIX_DEFAULTS), "learningRate"]);
  const o = { ...ADEMAMIX_DEFAULTS, ...options };
  const optionalSteps = (name: string, v: unknown) =>
    v === undefined ? undefined : check.integer(name, v, 1);
  return chain(
    scaleByAdemamix({
      ...adamOptions(o),
      b3: check.unitInterval("b3", o.b3),
      alpha: check.nonNegative("alpha", o.alpha),
      alphaWarmup: optionalSteps("alphaWarmup", o.alphaWarmup),
      beta3Warmup: optionalSteps("beta3Warmup", o.beta3Warmup),
    }),
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-3)),
  );
}
