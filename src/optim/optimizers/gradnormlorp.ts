/**
 * gradnormlorp — GradNormLoRP (Huang et al. 2025, "Gradient Weight-Normalized Low-Rank Projection
 * for Efficient LLM Training"): each matrix is weight-normalised, W = diag(g)·V with unit rows V
 * and row norms g, and the direction is trained by GaLore (Adam on a low-rank projection of its
 * gradient), the magnitudes by Adam. At every step, for a matrix leaf with gradient ∇W:
 *   g = ‖W_i‖ + 1e-12 (per row),  V = W / g
 *   ∇g = Σ_j V_ij ∇W_ij,   ∇V = ∇W − V·∇g            (the authors' compute_gradients)
 *   ΔV = α·back(Adam(project(∇V)))                    (GaLore: SVD basis refreshed every T steps)
 *   Δg = Adam(∇g)
 *   W ← (V − η ΔV) ⊙ (g − η Δg),  then W ← W − ηλW    (reconstruct, decay after the step)
 * Other leaves: AdamW. Adam is torch.optim.Adam (ε = 1e-8), as the authors' direction and magnitude
 * optimizers.
 * Reference: the authors' WeightNormGaLoreAdamW / WeightNormGaLore (GradNormLoRP repository,
 * optimizer "weight_norm_galore_adamw"): weight_norm_decompose, compute_gradients, GaLore's
 * projector. Deviations, from the paper where the published code cannot be followed: that code
 * steps private copies of V and g and never writes them back to W (reconstruct_weight is
 * commented out, so only the decay moves W), and its direction Adam runs on the full-size
 * projected-back gradient. Here the new V, g are written back, V and g are re-derived from W at
 * every step (nothing full-size is kept besides W), and the direction's moments are low-rank, as
 * in GaLore — the memory the paper reports.
 *
 * State per m × n matrix: GaLore's (basis + two low-rank moments) and two m-vectors for the
 * magnitudes. Checked against a torch re-implementation of this rule (tools/fixtures/
 * round2_optimizers.py; test/optim/round2.test.ts).
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import {
  chain,
  evaluate,
  type GradientTransformation,
  type LeafSpec,
  type ScalarOrSchedule,
  type State,
} from "../core.js";
import { leafwise } from "../leafwise.js";
import { type GaloreState, scaleByGalore } from "../projection/scale-by-galore.js";
import { PROJ_TYPES, type ProjType, projectable } from "../projection/subspace.js";
import { type AdamState, scaleByAdam } from "../transforms/adam.js";
import { matrixOrFallback } from "../transforms/matrix-partition.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecayAfterStep } from "../transforms/weight-decay.js";
import * as check from "../validate.js";

/** Options of {@link gradnormlorp}. */
export interface GradNormLoRPOptions {
  learningRate?: ScalarOrSchedule;
  /** r: projection rank of the direction's gradient. */
  rank?: number;
  /** T: refresh the basis every T steps. */
  updateProjGap?: number;
  /** α on the projected-back direction step. */
  scale?: number;
  projType?: ProjType;
  b1?: number;
  b2?: number;
  eps?: number;
  weightDecay?: number;
  /** Which leaves are weight-normalised and projected (default: every 2-D leaf). */
  mask?: LeafSpec<boolean>;
}

/** The defaults gradnormlorp() really uses (the authors' WeightNormGaLoreAdamW; torch Adam's ε). */
export const GRADNORMLORP_DEFAULTS = {
  rank: 256,
  updateProjGap: 200,
  scale: 1,
  projType: "std",
  b1: 0.9,
  b2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
} as const;

export interface GradNormState {
  count: number;
  direction: GaloreState;
  magnitude: AdamState;
}

/** [W, ∇W] → [V, g (m × 1), ∇g, ∇V]: the weight-norm split at W and the authors' gradients. */
const split = leafwise(([w, dw]) => {
  const g = np.sqrt(np.square(w.ref).sum(1)).add(1e-12).reshape([-1, 1]);
  const v = w.div(g.ref);
  const gradG = v.ref.mul(dw.ref).sum(1);
  const gradV = dw.sub(v.ref.mul(gradG.ref.reshape([-1, 1])));
  return [v, g, gradG, gradV];
});

/** [V, g, ΔV, Δg] → W' − W = (V − ηΔV)(g − ηΔg) − V g. */
const reconstruct = leafwise(([v, g, dv, dg], [eta]) => {
  const gNew = g.ref.sub(dg.mul(eta.ref).reshape([-1, 1]));
  return [v.ref.sub(dv.mul(eta)).mul(gNew).sub(v.mul(g))];
});

/** The weight-normalised step of the matrix leaves, learning rate included (see the header). */
export function scaleByGradNorm(o: {
  rank: number;
  updateProjGap: number;
  scale: number;
  projType: ProjType;
  adam: { b1: number; b2: number; eps: number };
  learningRate: ScalarOrSchedule;
}): GradientTransformation<GradNormState> {
  const direction = scaleByGalore({
    rank: o.rank,
    updateProjGap: o.updateProjGap,
    scale: o.scale,
    projType: o.projType,
    inner: scaleByAdam(o.adam),
  });
  const magnitude = scaleByAdam(o.adam);
  const rowsOf = (t: Params) => tree.map((x: np.Array) => np.zeros([x.shape[0]]), t);
  return {
    init(params) {
      const mags = rowsOf(params);
      return { count: 0, direction: direction.init(params), magnitude: magnitude.init(mags) };
    },
    update(updates, state, params) {
      if (params === undefined) throw new Error("gradnormlorp needs params in update()");
      const eta = evaluate(o.learningRate, state.count);
      const [unit, norms, gradMag, gradDir] = split([params, updates], []);
      const [dv, dirState] = direction.update(gradDir, state.direction);
      const [dg, magState] = magnitude.update(gradMag, state.magnitude);
      const [out] = reconstruct([unit, norms, dv, dg], [eta]);
      return [out, { count: state.count + 1, direction: dirState, magnitude: magState }];
    },
  };
}

/**
 * GradNormLoRP (Huang et al. 2025): weight-normalised matrices whose direction is trained by GaLore
 * and magnitudes by Adam; other leaves by AdamW.
 */
export function gradnormlorp(options: GradNormLoRPOptions = {}): GradientTransformation<State[]> {
  check.knownOptions("gradnormlorp", options, [
    ...Object.keys(GRADNORMLORP_DEFAULTS),
    "learningRate",
    "mask",
  ]);
  const o = { ...GRADNORMLORP_DEFAULTS, ...options };
  const adam = check.adamOptions({ b1: o.b1, b2: o.b2, eps: o.eps });
  const learningRate = check.learningRate(o.learningRate ?? 1e-3);
  const matrix = scaleByGradNorm({
    rank: check.integer("rank", o.rank, 1),
    updateProjGap: check.integer("updateProjGap", o.updateProjGap, 1),
    scale: check.positive("scale", o.scale),
    projType: check.oneOf("projType", o.projType, PROJ_TYPES),
    adam,
    learningRate,
  });
  // The fallback's AdamW step is −η·Adam; the matrices' step already holds η.
  const fallback = chain(scaleByAdam(adam), scaleByLearningRate(learningRate));
  return chain(
    matrixOrFallback(
      matrix,
      fallback,
      (leaf, path) => leaf.ndim === 2 && projectable(o.mask)(leaf, path),
    ),
    ...optionalDecayAfterStep(learningRate, check.nonNegative("weightDecay", o.weightDecay)),
  );
}
