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
 * they belong to, so the update keeps the gradient's full resolution. Non-matrix (or masked-out)
 * leaves: AdamW, through matrixOrFallback:
 *   chain(matrixOrFallback(scaleByGwt, scaleByAdam, projectable(mask)), addDecayedWeights(λ),
 *         scaleByLearningRate(η))
 * State of an m × n leaf: 2·m·n/2^l floats.
 * Checked against tools/fixtures/galore_reference.py (gwt), written from the paper's algorithm
 * (test/optim/galore.test.ts). Deviation/reading: the paper leaves the handling of the detail
 * coefficients terse; normalising them by the approximation's Adam denominator is our reading
 * (it keeps their scale consistent with the normalised approximation). PyTorch's Adam
 * arithmetic (ε outside the bias-corrected root), α = 0.25 by default as in GaLore.
 */
import { numpy as np } from "@jax-js/jax";
import { OptionError } from "../../engine/errors.js";
import * as tree from "../../engine/tree.js";
import { haarForward, haarInverse } from "../../linalg/haar.js";
import { chain, type GradientTransformation, type LeafSpec, type State } from "../core.js";
import { projectable } from "../projection/subspace.js";
import { scaleByAdam } from "../transforms/adam.js";
import { matrixOrFallback } from "../transforms/matrix-partition.js";
import { biasCorrection, ema, emaSquare } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { type AdamOptions, adamOptions } from "./adam.js";

/** Options of {@link gwt}: Adam's, plus the Haar levels and the scale of the update. */
export interface GwtOptions extends Omit<AdamOptions, "amsgrad"> {
  /** Haar levels l (default 2); the last axis must be divisible by 2^l. */
  levels?: number;
  /** α, the factor on the update of transformed leaves (default 0.25). */
  scale?: number;
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

/** GWT's state: the step count and Adam's moments of the Haar approximation coefficients. */
export interface GwtState {
  count: number;
  /** Adam's moments of each leaf's approximation coefficients, by leaf path. */
  leaves: Record<string, { mu: np.Array; nu: np.Array }>;
}

/** The GWT direction of 2-D leaves (see the header). */
export function scaleByGwt(o: {
  levels: number;
  scale: number;
  b1: number;
  b2: number;
  eps: number;
}): GradientTransformation<GwtState> {
  const { levels, scale } = o;
  return {
    init(params) {
      const leaves: GwtState["leaves"] = {};
      tree.walk(params, (p: np.Array, path) => {
        const [m, n] = p.shape;
        if (p.ndim !== 2) {
          throw new TypeError(`gwt: leaf "${path}" has shape [${p.shape}]; only 2-D leaves`);
        }
        if (n % 2 ** levels !== 0) {
          throw new OptionError(
            `gwt: leaf "${path}" has ${n} columns, not divisible by 2^levels = ${2 ** levels}; lower levels`,
          );
        }
        const shape = [m, n / 2 ** levels];
        leaves[path] = { mu: np.zeros(shape), nu: np.zeros(shape) };
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
        const { approximation, details } = haarForward(g, levels, -1);
        const mu = ema(s.mu, approximation.ref, o.b1);
        const nu = emaSquare(s.nu, approximation, o.b2);
        const denom = np.sqrt(nu.ref.div(biasCorrection(o.b2, t))).add(o.eps);
        const a = mu.ref.div(biasCorrection(o.b1, t)).div(denom.ref);
        // details[k] (finest first) is 2^(levels−1−k) times longer than the approximation.
        const d = details.map((dk, k) => dk.div(np.repeat(denom.ref, 2 ** (levels - 1 - k), -1)));
        denom.dispose();
        leaves[path] = { mu, nu };
        return haarInverse({ approximation: a, details: d }, -1).mul(scale);
      }, updates);
      return [out, { count: t, leaves }];
    },
  };
}

/**
 * Gradient Wavelet Transform (Wen et al. 2025): Adam on the Haar approximation of each matrix
 * gradient, so the moments shrink by 2^levels.
 */
export function gwt(options: GwtOptions = {}): GradientTransformation<State[]> {
  check.knownOptions("gwt", options, [...Object.keys(GWT_DEFAULTS), "learningRate", "mask"]);
  const o = { ...GWT_DEFAULTS, ...options };
  const adam = adamOptions(o);
  const transform = scaleByGwt({
    levels: check.integer("levels", o.levels, 1),
    scale: check.positive("scale", o.scale),
    ...adam,
  });
  return chain(
    matrixOrFallback(transform, scaleByAdam(adam), projectable(o.mask)),
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-3)),
  );
}
