/**
 * AdaGN — Stable-SPAM's adaptive gradient-norm scaling (Huang et al. 2025, "Stable-SPAM: How to
 * Train in 4-Bit More Stably than 16-Bit Adam", arXiv 2502.17055), per leaf:
 *   n = ‖g‖₂
 *   μ ← γ1·μ + (1−γ1)·n,   ν ← γ2·ν + (1−γ2)·n²
 *   g ← g/n · (μ/(1−γ1^t)) / (sqrt(ν/(1−γ2^t)) + ε)      (g unchanged when n = 0)
 * The gradient keeps its direction; its norm becomes a smoothed norm, damping bursts.
 * Checked against the authors' code (TianjinYellow/StableSPAM, stablespam.py) through the
 * Stable-SPAM fixture (tools/fixtures/adaptive_optimizers.py). No host reads.
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import type { GradientTransformation } from "../core.js";
import { mapMulti } from "../leafwise.js";
import * as check from "../validate.js";
import { biasCorrection, ema, emaSquare } from "./moments.js";

/** AdaGN's decays γ1, γ2 of the running ‖g‖ and ‖g‖², and its ε. */
export interface NormStabilizerOptions {
  gamma1: number;
  gamma2: number;
  eps: number;
}

/**
 * One AdaGN step for one leaf with the 1-based count `t`. `mean` and `square` are the running
 * norm statistics (scalar arrays). Consumes g, mean and square; returns [g, mean, square].
 */
export function stabilizeNorm(
  g: np.Array,
  mean: np.Array,
  square: np.Array,
  o: NormStabilizerOptions,
  t: number,
): [np.Array, np.Array, np.Array] {
  const n = np.sqrt(g.ref.mul(g.ref).sum());
  const mu = ema(mean, n.ref, o.gamma1);
  const nu = emaSquare(square, n.ref, o.gamma2);
  const target = mu.ref
    .div(biasCorrection(o.gamma1, t))
    .div(np.sqrt(nu.ref.div(biasCorrection(o.gamma2, t))).add(o.eps));
  const positive = n.ref.greater(0);
  return [np.where(positive, g.ref.mul(target.div(n)), g), mu, nu];
}

/** The state of {@link adaGN}: the step count and, per leaf, the running means of ‖g‖ and ‖g‖². */
export interface AdaGNState {
  count: number;
  /** Scalar arrays per leaf: running mean of ‖g‖ and of ‖g‖². */
  normMean: Params;
  normSquare: Params;
}

/** The authors' γ1, γ2 and ε. */
export const ADAGN_DEFAULTS = { gamma1: 0.7, gamma2: 0.9, eps: 1e-8 } as const;

/** AdaGN on its own, as a transformation (Stable-SPAM uses `stabilizeNorm` directly). */
export function adaGN(
  options: { gamma1?: number; gamma2?: number; eps?: number } = {},
): GradientTransformation<AdaGNState> {
  check.knownOptions("adaGN", options, Object.keys(ADAGN_DEFAULTS));
  const d = { ...ADAGN_DEFAULTS, ...options };
  const o = {
    gamma1: check.unitInterval("gamma1", d.gamma1),
    gamma2: check.unitInterval("gamma2", d.gamma2),
    ...check.adamOptions({ eps: d.eps }),
  };
  return {
    init(params) {
      const normMean = tree.map(() => np.zeros([]), params);
      const normSquare = tree.map(() => np.zeros([]), params);
      tree.dispose(params);
      return { count: 0, normMean, normSquare };
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const t = state.count + 1;
      const [out, normMean, normSquare] = mapMulti(
        3,
        (g, m, v) => stabilizeNorm(g, m, v, o, t),
        updates,
        state.normMean,
        state.normSquare,
      );
      return [out, { count: t, normMean, normSquare }];
    },
  };
}
