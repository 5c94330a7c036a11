/**
 * gwt — Gradient Wavelet Transform (Wen et al. 2025, "Breaking Memory Limits: Gradient Wavelet
 * Transform Enhances LLMs Training"): Adam on the Haar approximation coefficients of a matrix
 * gradient, so the moments shrink by 2^levels along the last axis.
 *   (A, D_1 … D_l) = Haar_l(G)         (orthonormal Haar along the last axis; src/linalg/haar.ts)
 *   m ← β1 m + (1−β1) A,  v ← β2 v + (1−β2) A²          (A: m × n/2^l)
 *   δ = √(v/(1−β2ᵗ)) + ε
 *   d = α · Haar⁻¹( (m/(1−β1ᵗ))/δ,  D_k/δ↑ )     (δ↑: δ repeated to each detail level's length)
 *   W ← W(1 − ηλ) − η·d
 * The details carry no state: they are normalised by the same denominator as the approximation
 * they belong to, so the update keeps the gradient's full resolution. Non-matrix leaves: AdamW.
 * State of an m × n leaf: 2·m·n/2^l floats.
 * Checked against tools/fixtures/galore_reference.py (gwt), written from the paper's algorithm
 * (test/optim/galore.test.ts). Deviation/reading: the paper leaves the handling of the detail
 * coefficients terse; normalising them by the approximation's Adam denominator is our reading
 * (it keeps their scale consistent with the normalised approximation). PyTorch's Adam
 * arithmetic (ε outside the bias-corrected root), α = 0.25 by default as in GaLore.
 */
import { numpy as np } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import { haarForward, haarInverse } from "../../linalg/haar.js";
import {
  chain,
  type GradientTransformation,
  type LeafSpec,
  type ScalarOrSchedule,
} from "../core.js";
import { adamDirection } from "../transforms/adam.js";
import { biasCorrection, ema, emaSquare } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { addDecayedWeights } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { projectedLeaves } from "./galore.js";

export interface GwtOptions {
  /** Haar levels l (default 2); the last axis must be divisible by 2^l. */
  levels?: number;
  /** α, the factor on the update of transformed leaves (default 0.25). */
  scale?: number;
  learningRate?: ScalarOrSchedule;
  b1?: number;
  b2?: number;
  eps?: number;
  weightDecay?: number;
  /** Which leaves are transformed (default: every 2-D leaf); the others use AdamW. */
  mask?: LeafSpec<boolean>;
}

/** The defaults gwt() really uses; learningRate excluded. */
export const GWT_DEFAULTS = {
  levels: 2,
  scale: 0.25,
  b1: 0.9,
  b2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
} as const;

export interface GwtState {
  count: number;
  leaves: Record<string, { mu: np.Array; nu: np.Array; wavelet: number }>;
}

export function scaleByGwt(options: Omit<GwtOptions, "learningRate" | "weightDecay"> = {}) {
  const levels = check.integer("levels", options.levels ?? 2, 1);
  const scale = check.positive("scale", options.scale ?? 0.25);
  const o = {
    b1: check.unitInterval("b1", options.b1 ?? 0.9),
    b2: check.unitInterval("b2", options.b2 ?? 0.999),
    eps: check.nonNegative("eps", options.eps ?? 1e-8),
  };
  const transform: GradientTransformation<GwtState> = {
    init(params) {
      const chosen = projectedLeaves(params, options.mask);
      const leaves: GwtState["leaves"] = {};
      tree.walk(params, (p: np.Array, path) => {
        if (chosen.get(path)) {
          const [m, n] = p.shape;
          if (n % 2 ** levels !== 0) {
            throw new RangeError(
              `gwt: leaf "${path}" has ${n} columns, not divisible by 2^levels = ${2 ** levels}; lower levels`,
            );
          }
          const shape = [m, n / 2 ** levels];
          leaves[path] = { mu: np.zeros(shape), nu: np.zeros(shape), wavelet: 1 };
        } else leaves[path] = { mu: np.zeros(p.shape), nu: np.zeros(p.shape), wavelet: 0 };
      });
      tree.dispose(params);
      return { count: 0, leaves };
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const t = state.count + 1;
      const leaves: GwtState["leaves"] = {};
      const out = tree.mapWithPath((g: np.Array, path: string) => {
        const s = state.leaves[path];
        if (!s.wavelet) {
          const mu = ema(s.mu, g.ref, o.b1);
          const nu = emaSquare(s.nu, g, o.b2);
          leaves[path] = { mu, nu, wavelet: 0 };
          return adamDirection(mu.ref, nu.ref, t, o);
        }
        const { approximation, details } = haarForward(g, levels, -1);
        const mu = ema(s.mu, approximation.ref, o.b1);
        const nu = emaSquare(s.nu, approximation, o.b2);
        const denom = np.sqrt(nu.ref.div(biasCorrection(o.b2, t))).add(o.eps);
        const a = mu.ref.div(biasCorrection(o.b1, t)).div(denom.ref);
        // details[k] (finest first) is 2^(levels−1−k) times longer than the approximation.
        const d = details.map((dk, k) => dk.div(np.repeat(denom.ref, 2 ** (levels - 1 - k), -1)));
        denom.dispose();
        leaves[path] = { mu, nu, wavelet: 1 };
        return haarInverse({ approximation: a, details: d }, -1).mul(scale);
      }, updates);
      return [out, { count: t, leaves }];
    },
  };
  return transform;
}

export function gwt(options: GwtOptions = {}) {
  check.knownOptions("gwt", options, [
    "levels",
    "scale",
    "learningRate",
    "b1",
    "b2",
    "eps",
    "weightDecay",
    "mask",
  ]);
  const { learningRate, weightDecay, ...rest } = options;
  const lr = check.learningRate(learningRate ?? 1e-3);
  const wd = check.nonNegative("weightDecay", weightDecay ?? 0);
  return chain(
    scaleByGwt(rest),
    ...(wd > 0 ? [addDecayedWeights(wd)] : []),
    scaleByLearningRate(lr),
  );
}
