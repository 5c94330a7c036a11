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
 *   p ← (p − η·d)·(1 − ηλ)                 (decay after the step: transforms/weight-decay.ts)
 * ΔT = resetInterval (0: never), W = warmupSteps, θ = spikeThreshold (0: no clipping; the
 * authors' `threshold`), N = clipDelay.
 *
 * Reference: the authors' code (TianjinYellow/SPAM-Optimizer, galore_torch/SPAM.py, read through
 * the ffuhu/SPAM-Optimizer copy; not copied); fixture written from it in
 * tools/fixtures/adaptive_optimizers.py. ε sits outside the bias correction, as there (default
 * 1e-6). The Adam part reuses adamDirection with ε/sqrt(1−β2^t), which is the same expression.
 * With density < 1, matrix leaves (ndim ≥ 2, or those `isSparse` picks; the CLI: hidden matrices,
 * as the authors' attention and MLP layers) take the sparse-momentum variant (spam-sparse.ts:
 * moments on a random subset of density·n entries, redrawn at each reset, seeded by `seed`).
 * Deviations: without density masks the authors' code never resets (its gap is only set for
 * masked groups), here resetInterval applies to every leaf. No warm-up before the first reset,
 * as in the code.
 */
import type { numpy as np } from "@jax-js/jax";
import { OptionError } from "../../engine/errors.js";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import {
  chain,
  flagLabels,
  type GradientTransformation,
  type LeafSpec,
  partition,
  type ScalarOrSchedule,
} from "../core.js";
import { mapMulti } from "../leafwise.js";
import { adamDirection } from "../transforms/adam.js";
import { isMatrixLeaf } from "../transforms/matrix-partition.js";
import { ema, emaSquare, zeroMoments } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { clipSpikesBySecondMoment } from "../transforms/spike-clip.js";
import { optionalDecayAfterStep } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { adamOptions } from "./adam.js";
import { type MaskSampler, scaleBySparseSpam } from "./spam-sparse.js";
import { spamStep, zeroed } from "./spam-step.js";

/** Options of {@link spam}. */
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
  spikeThreshold?: number;
  /** Steps (N) before clipping starts, and after each reset. */
  clipDelay?: number;
  /** Share of a matrix's entries with moments (sparse momentum); 1: dense. */
  density?: number;
  /** Seed of the sparse-momentum subsets. */
  seed?: number;
  /** Draws the subsets (default: uniformly at random from `seed`). */
  sampler?: MaskSampler;
  /** Leaves that take sparse momentum when density < 1 (default: every ≥2-D leaf). */
  isSparse?: LeafSpec<boolean>;
}

/** SPAM's state: the step count and Adam's moments. */
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
  spikeThreshold: number;
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
      const { reset, clip, adam } = spamStep(o, t);
      const factor = warmupFactor(o, t);
      const restart = (a: np.Array) => (reset ? zeroed(a) : a);
      const [out, mu, nu] = mapMulti(
        3,
        (g0, m0, v0) => {
          const [mPrev, vPrev] = [restart(m0), restart(v0)];
          const g = clip ? clipSpikesBySecondMoment(g0, vPrev.ref, o.spikeThreshold) : g0;
          const m = ema(mPrev, g.ref, o.b1);
          const v = emaSquare(vPrev, g, o.b2);
          const d = adamDirection(m.ref, v.ref, t, adam);
          return [factor === 1 ? d : d.mul(factor), m, v];
        },
        updates,
        state.mu,
        state.nu,
      );
      return [out, { count: t, mu, nu }];
    },
  };
}

/** The paper's ΔT 500, W 150, θ 5000 and the code's ε 1e-6, clipping from step 20 (N). */
export const SPAM_DEFAULTS = {
  b1: 0.9,
  b2: 0.999,
  eps: 1e-6,
  weightDecay: 0,
  resetInterval: 500,
  warmupSteps: 150,
  spikeThreshold: 5000,
  clipDelay: 20,
  density: 1,
  seed: 0,
} as const;

/** The learning rate defaults to 1e-3. */
export function spam(options: SpamOptions = {}) {
  check.knownOptions("spam", options, [
    ...Object.keys(SPAM_DEFAULTS),
    "learningRate",
    "sampler",
    "isSparse",
  ]);
  const d = { ...SPAM_DEFAULTS, ...options };
  const o: Resolved = {
    ...adamOptions(d),
    resetInterval: check.integer("resetInterval", d.resetInterval, 0),
    warmupSteps: check.integer("warmupSteps", d.warmupSteps, 0),
    spikeThreshold: check.nonNegative("spikeThreshold", d.spikeThreshold),
    clipDelay: check.integer("clipDelay", d.clipDelay, 1),
  };
  const learningRate = check.learningRate(d.learningRate ?? 1e-3);
  const density = check.positive("density", d.density);
  if (density > 1) throw new OptionError(`density must be in (0, 1], got ${density}`);
  const direction =
    density === 1
      ? scaleBySpam(o)
      : partition(
          {
            sparse: scaleBySparseSpam({
              ...o,
              density,
              seed: check.integer("seed", d.seed, 0),
              factorAt: (t) => warmupFactor(o, t),
              sampler: d.sampler,
            }),
            dense: scaleBySpam(o),
          },
          flagLabels(d.isSparse ?? isMatrixLeaf, "sparse", "dense"),
        );
  return chain(
    direction,
    scaleByLearningRate(learningRate),
    ...optionalDecayAfterStep(learningRate, check.nonNegative("weightDecay", d.weightDecay)),
  );
}
