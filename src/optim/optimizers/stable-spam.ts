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
import { mapMulti } from "../leafwise.js";
import { adamDirection } from "../transforms/adam.js";
import { ema, emaSquare } from "../transforms/moments.js";
import { stabilizeNorm } from "../transforms/norm-stabilizer.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { adaptiveSpikeClip } from "../transforms/spike-clip.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { adamOptions } from "./adam.js";
import { zeroed } from "./spam-step.js";

/**
 * When Stable-SPAM's momentum reset takes effect: "paper" (on its step) or "reference" (the
 * authors' code, one step later).
 */
export type ResetTiming = "paper" | "reference";

/** Options of {@link stableSpam}. */
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

/**
 * Stable-SPAM's state: the step counts, Adam's moments and, per leaf, AdaClip's and AdaGN's scalar
 * statistics.
 */
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
  const scalars = (params: Params) => tree.map(() => np.zeros([]), params);
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

      const [out, mu, nu, maxAbs, normMean, normSquare] = mapMulti(
        6,
        (g0, m0, v0, max0, mean0, square0) => {
          const [clipped, max] = adaptiveSpikeClip(g0, max0, o.theta, statStep);
          const [g, mean, square] = stabilizeNorm(clipped, mean0, square0, norm, statStep);
          const mPrev = zeroBefore ? zeroed(m0) : m0;
          const vPrev = zeroBefore ? zeroed(v0) : v0;
          const m = ema(mPrev, g.ref, b1);
          const v = emaSquare(vPrev, g, o.b2);
          const d = adamDirection(m.ref, v.ref, momentStep, { b1, b2: o.b2, eps: o.eps });
          const keep = (a: np.Array) => (zeroAfter ? zeroed(a) : a);
          return [d, keep(m), keep(v), max, mean, square];
        },
        updates,
        state.mu,
        state.nu,
        state.maxAbs,
        state.normMean,
        state.normSquare,
      );
      return [out, { count: t, momentCount: momentStep, mu, nu, maxAbs, normMean, normSquare }];
    },
  };
}

/** The authors' defaults (lr 1e-3 apart): γ1 0.7, γ2 0.9, γ3 0.999, reset every 1000, ηmin 0.5. */
export const STABLE_SPAM_DEFAULTS = {
  b1: 0.9,
  b2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
  gamma1: 0.7,
  gamma2: 0.9,
  theta: 0.999,
  resetInterval: 1000,
  totalT: undefined as number | undefined,
  etaMin: 0.5,
  resetTiming: "paper" as ResetTiming,
} as const;

/**
 * Stable-SPAM (Huang et al. 2025): Adam on gradients clipped by AdaClip and norm-stabilised by
 * AdaGN, with periodic momentum resets.
 */
export function stableSpam(options: StableSpamOptions = {}) {
  check.knownOptions("stableSpam", options, [...Object.keys(STABLE_SPAM_DEFAULTS), "learningRate"]);
  const d = { ...STABLE_SPAM_DEFAULTS, ...options };
  const o: Resolved = {
    ...adamOptions(d),
    gamma1: check.unitInterval("gamma1", d.gamma1),
    gamma2: check.unitInterval("gamma2", d.gamma2),
    theta: check.unitInterval("theta", d.theta),
    resetInterval: check.integer("resetInterval", d.resetInterval, 0),
    totalT: d.totalT === undefined ? undefined : check.integer("totalT", d.totalT, 1),
    etaMin: check.unitInterval("etaMin", d.etaMin),
    resetTiming: check.oneOf("resetTiming", d.resetTiming, ["paper", "reference"] as const),
  };
  return chain(
    scaleByStableSpam(o),
    ...optionalDecay(check.nonNegative("weightDecay", d.weightDecay)),
    scaleByLearningRate(check.learningRate(d.learningRate ?? 1e-3)),
  );
}
