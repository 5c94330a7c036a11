/**
 * grassProjector — Grass (Muhamed et al. 2024, "Grass: Compute Efficient Low-Memory LLM
 * Training with Structured Sparse Gradients"): the basis is a sparse row selection
 * Q = [w_1 e_{i_1}, …, w_r e_{i_r}] of the oriented gradient G (dim × k):
 *   "topk":        the r rows with the largest norm ‖G_i‖, by decreasing norm, w = 1;
 *   "multinomial": r rows drawn with replacement with p_i ∝ ‖G_i‖², w_j = 1/√(r p_{i_j})
 *                  (unbiased: E[Q Qᵀ] = I).
 * Only the indices (int32) and weights (float32) are stored, 8·r bytes. The basis is rebuilt as
 * a one-hot matrix each step and applied by matmul (a gather would be cheaper; same numbers).
 * "topk" is checked against tools/fixtures/galore_reference.py (grass_basis) through GaLore
 * trajectories; "multinomial" by its unbiasedness and determinism (test/optim/galore-projectors).
 */
import { lax, numpy as np, random } from "@jax-js/jax";
import * as check from "../validate.js";
import { drawKey, type Projector } from "./projector.js";

/**
 * Options of {@link grassProjector}: "topk" rows by norm (default) or "multinomial" sampling
 * (unbiased).
 */
export interface GrassOptions {
  selection?: "topk" | "multinomial";
}

/**
 * The state of {@link grassProjector}: the selected rows, their weights, and the seed for sampling.
 */
export interface GrassProjectorState {
  index: np.Array;
  weight: np.Array;
  dim: number;
  seed: number;
  draws: number;
}

/**
 * Grass (Muhamed et al. 2024): the basis is a sparse selection of the gradient's rows; only indices
 * and weights are stored.
 */
export function grassProjector(options: GrassOptions = {}): Projector<GrassProjectorState> {
  check.knownOptions("grassProjector", options, ["selection"]);
  const selection = check.oneOf("selection", options.selection ?? "topk", [
    "topk",
    "multinomial",
  ] as const);
  return {
    name: "grass",
    init: ({ dim, rank, seed }) => ({
      index: np.arange(rank, undefined, undefined, { dtype: np.int32 }),
      weight: np.ones([rank]),
      dim,
      seed,
      draws: 0,
    }),
    refresh(g, state) {
      const r = state.index.shape[0];
      state.index.dispose();
      state.weight.dispose();
      const sq = g.ref.mul(g).sum(1);
      if (selection === "topk") {
        const [values, index] = lax.topK(np.sqrt(sq), r);
        values.dispose();
        return { ...state, index: index.astype(np.int32), weight: np.ones([r]) };
      }
      const p = sq.ref.div(sq.sum());
      const key = drawKey(state.seed, state.draws);
      const index = random.categorical(key, np.log(p.ref), { shape: [r] }).astype(np.int32);
      const weight = np.reciprocal(np.sqrt(np.take(p, index.ref).mul(r)));
      return { ...state, index, weight, draws: state.draws + 1 };
    },
    basis(state) {
      const rows = np.arange(state.dim, undefined, undefined, { dtype: np.int32 }).reshape([-1, 1]);
      const hot = np.equal(rows, state.index.ref.reshape([1, -1])).astype(np.float32);
      return hot.mul(state.weight.ref.reshape([1, -1]));
    },
  };
}
