/**
 * stableSpam — Stable-SPAM (Huang et al. 2025, "Stable-SPAM: How to Train in 4-Bit More Stably
 * than 16-Bit Adam", arXiv 2502.17055). Per leaf, at step t (1-based):
 *   s = 1, or with totalT: s = ηmin + (1−ηmin)·(1 + cos(π·t/(totalT+1)))/2   (decays β1 and γ1)
 *   AdaClip (transforms/spike-clip.ts):  T ← γ3·T + (1−γ3)·max|g|;  |g| > T̂ ⇒ g ← g·T̂/max|g|
 *   AdaGN (transforms/norm-stabilizer.ts) with γ1·s, γ2:  g ← g/‖g‖ · μ̂/(sqrt(ν̂) + ε)
 *   every resetInterval steps: m ← 0, v ← 0 (momentum reset)
 *   Adam with β1·s, β2 on that g (transforms/adam.ts: adamDirection);  p ← p(1 − ηλ) − η·d
 * `theta` is γ3 (the authors' code names it so). resetInterval 0: never reset. Without totalT,
 * s = 1: no schedule on β1 or γ1.
 *
 * Reference: the authors' code, TianjinYellow/StableSPAM stablespam.py (read, not copied);
 * fixture from tools/fixtures/adaptive_optimizers.py, which re-implements it. AdaClip is part of
 * it here (the design notes report a port that dropped it; pytorch_optimizer's current StableSPAM,
 * read for comparison, keeps it and uses the "paper" timing below, but skips the whole step when
 * ‖g‖ = 0 — we keep g then, as the authors' code).
 *
 * Reset timing — where the authors' code and paper disagree. The code zeroes the moments *after*
 * reading them on the reset step, so that step still moves with the old moments (with the bias
 * correction of a first step), and the fresh moments start one step later with a bias correction
 * of a second step; the AdaClip/AdaGN statistics, never reset, are bias-corrected with that same
 * restarted counter. Two behaviours, chosen by `resetTiming`:
 *   "paper" (default): the reset takes effect on the step it is scheduled: m, v are zeroed before
 *     that step's moment update and its Adam bias correction counts from 1 again; AdaClip/AdaGN
 *     statistics are corrected with the global step t, as in the paper's equations.
 *   "reference": the authors' code, step for step.
 * Both are tested against the fixture; with resetInterval 0 they coincide.
 *
 * Deviations: past t = totalT + 1 the cosine factor stays at ηmin (the code's closed-form cosine
 * would rise again); amsgrad is not offered. The decay is AdamW's (p·(1 − ηλ), η unscaled).
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { chain, type GradientTransformation, type ScalarOrSchedule } from "../core.js";
import { adamDirection } from "../transforms/adam.js";
import { ema, emaSquare } from "../transforms/moments.js";
import { stabilizeNorm } from "../transforms/norm-stabilizer.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { adaptiveSpikeClip } from "../transforms/spike-clip.js";
import { addDecayedWeights } from "../transforms/weight-decay.js";
import * as check from "../validate.js";

export type ResetTiming = "paper" | "reference";

export interface StableSpamOptions {
  learningRate?: ScalarOrSchedule;
  b1?: number;
  b2?: number;
  eps?: number;
  /** Decoupled weight decay λ (AdamW's). */
  weightDecay?: number;
  /** AdaGN decay of the running mean of ‖g‖ (γ1). */
  gamma1?: number;
  /** AdaGN decay of the running mean of ‖g‖² (γ2). */
  gamma2?: number;
  /** AdaClip decay of the running max|g| (γ3). */
  theta?: number;
  /** Momentum reset every this many steps; 0: never. */
  resetInterval?: number;
  /** Total steps: enables the cosine decay of β1 and γ1 (off when absent). */
  totalT?: number;
  /** Floor of that cosine factor (ηmin). */
  etaMin?: number;
  resetTiming?: ResetTiming;
}

export interface StableSpamState {
  count: number;
  /** Steps counted by the Adam bias correction (restarts at resets; see the header). */
  momentCount: number;
  mu: Params;
  nu: Params;
  /** Scalar arrays per leaf: AdaClip's running max|g|, AdaGN's running ‖g‖ and ‖g‖². */
  maxAbs: Params;
  normMean: Params;
  normSquare: Params;
}

interface Resolved {
  b1: number;
  b2: number;
  eps: number;
  gamma1: number;
  gamma2: number;
  theta: number;
  resetInterval: number;
  totalT: number | undefined;
  etaMin: number;
  resetTiming: ResetTiming;
}

/** The cosine factor s(t) of the header (1 without totalT). */
function decayFactor(o: Resolved, t: number): number {
  if (o.totalT === undefined) return 1;
  const span = o.totalT + 1;
  return o.etaMin + ((1 - o.etaMin) * (1 + Math.cos((Math.PI * Math.min(t, span)) / span))) / 2;
}

function scaleByStableSpam(o: Resolved): GradientTransformation<StableSpamState> {
  const scalars = (params: Params) => tree.mapWithPath(() => np.zeros([]), params);
  return {
    init(params) {
      const state: StableSpamState = {
        count: 0,
        momentCount: 0,
        mu: tree.zerosLike(params),
        nu: tree.zerosLike(params),
        maxAbs: scalars(params),
        normMean: scalars(params),
        normSquare: scalars(params),
      };
      tree.dispose(params);
      return state;
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const t = state.count + 1;
      const s = decayFactor(o, t);
      const b1 = o.b1 * s;
      const norm = { gamma1: o.gamma1 * s, gamma2: o.gamma2, eps: o.eps };
      const due = o.resetInterval > 0 && t % o.resetInterval === 0;
      // Host-side step bookkeeping only (see the header for the two timings).
      const paper = o.resetTiming === "paper";
      const statStep = paper ? t : state.momentCount + 1;
      const momentStep = due ? 1 : state.momentCount + 1;
      const zeroBefore = paper && due;
      const zeroAfter = !paper && due;

      const [mus, nus] = [tree.leaves(state.mu), tree.leaves(state.nu)];
      const [maxs, means, squares] = [
        tree.leaves(state.maxAbs),
        tree.leaves(state.normMean),
        tree.leaves(state.normSquare),
      ];
      const out: np.Array[] = [];
      const next = { mu: [] as np.Array[], nu: [] as np.Array[] };
      const stats = { maxAbs: [] as np.Array[], mean: [] as np.Array[], square: [] as np.Array[] };
      tree.leaves(updates).forEach((g0, i) => {
        const [clipped, maxAbs] = adaptiveSpikeClip(g0, maxs[i], o.theta, statStep);
        const [g, mean, square] = stabilizeNorm(clipped, means[i], squares[i], norm, statStep);
        stats.maxAbs.push(maxAbs);
        stats.mean.push(mean);
        stats.square.push(square);
        const m0 = zeroBefore ? zeroed(mus[i]) : mus[i];
        const v0 = zeroBefore ? zeroed(nus[i]) : nus[i];
        const m = ema(m0, g.ref, b1);
        const v = emaSquare(v0, g, o.b2);
        out.push(adamDirection(m.ref, v.ref, momentStep, { b1, b2: o.b2, eps: o.eps }));
        next.mu.push(zeroAfter ? zeroed(m) : m);
        next.nu.push(zeroAfter ? zeroed(v) : v);
      });
      return [
        tree.unflatten(updates, out),
        {
          count: t,
          momentCount: momentStep,
          mu: tree.unflatten(state.mu, next.mu),
          nu: tree.unflatten(state.nu, next.nu),
          maxAbs: tree.unflatten(state.maxAbs, stats.maxAbs),
          normMean: tree.unflatten(state.normMean, stats.mean),
          normSquare: tree.unflatten(state.normSquare, stats.square),
        },
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

const NAMES = [
  "learningRate",
  "b1",
  "b2",
  "eps",
  "weightDecay",
  "gamma1",
  "gamma2",
  "theta",
  "resetInterval",
  "totalT",
  "etaMin",
  "resetTiming",
] as const;

/** Defaults are the authors' (lr 1e-3, γ1 0.7, γ2 0.9, γ3 0.999, reset every 1000, ηmin 0.5). */
export function stableSpam(options: StableSpamOptions = {}) {
  check.knownOptions("stableSpam", options, NAMES);
  const o: Resolved = {
    b1: check.unitInterval("b1", options.b1 ?? 0.9),
    b2: check.unitInterval("b2", options.b2 ?? 0.999),
    eps: check.nonNegative("eps", options.eps ?? 1e-8),
    gamma1: check.unitInterval("gamma1", options.gamma1 ?? 0.7),
    gamma2: check.unitInterval("gamma2", options.gamma2 ?? 0.9),
    theta: check.unitInterval("theta", options.theta ?? 0.999),
    resetInterval: check.integer("resetInterval", options.resetInterval ?? 1000, 0),
    totalT: options.totalT === undefined ? undefined : check.integer("totalT", options.totalT, 1),
    etaMin: check.unitInterval("etaMin", options.etaMin ?? 0.5),
    resetTiming: check.oneOf("resetTiming", options.resetTiming ?? "paper", [
      "paper",
      "reference",
    ] as const),
  };
  const learningRate = check.learningRate(options.learningRate ?? 1e-3);
  const weightDecay = check.nonNegative("weightDecay", options.weightDecay ?? 0);
  return chain(
    scaleByStableSpam(o),
    ...(weightDecay > 0 ? [addDecayedWeights(weightDecay)] : []),
    scaleByLearningRate(learningRate),
  );
}
