/**
 * dctProjector — SVD-free projection by DCT column selection (Modoranu et al. 2025, "SVD-Free
 * Low-Rank Adaptive Gradient Optimization for Large Language Models"):
 *   C = orthonormal DCT-II basis of size dim (src/linalg/dct.ts: C[k, i] = s_k cos(π(i + ½)k/dim),
 *       rows are the basis vectors);
 *   at a refresh: score_k = ‖C_k G‖ (one matmul C G), keep the r best-aligned basis vectors, in
 *   decreasing order of score (ties: lower index); Q = their transposes as columns.
 * Only the r indices are stored (int32, 4·r bytes instead of 4·dim·r); the basis is rebuilt from
 * the closed form at each step (dim·r cosines). Checked against tools/fixtures/galore_reference.py
 * (dct_basis) through GaLore trajectories. Deviation: the paper computes C G with a fast DCT;
 * this uses the dense matmul.
 */
import { lax, numpy as np } from "@jax-js/jax";
import { dctBasis } from "../../linalg/dct.js";
import type { Projector } from "./projector.js";

/** The state of {@link dctProjector}: the indices of the selected DCT basis vectors. */
export interface DctProjectorState {
  /** Indices of the selected DCT basis vectors (int32, length r). */
  index: np.Array;
  /** Size of the DCT basis (rows of the oriented gradient). */
  dim: number;
}

/**
 * Basis vectors `index` (int32) of the orthonormal DCT-II of size d, as the columns of a d × r
 * matrix. The angle π·((2i + 1)k mod 4d)/(2d) is reduced in exact int32 arithmetic first, so
 * float32 cosines stay accurate for large d (as src/linalg/dct.ts does). Consumes index.
 */
export function dctColumns(d: number, index: np.Array): np.Array {
  const odd = np.arange(1, 2 * d, 2, { dtype: np.int32 }).reshape([d, 1]);
  const k = index.reshape([1, -1]);
  const phase = np.remainder(odd.mul(k.ref), 4 * d).astype(np.float32);
  const weights = np.where(np.equal(k, 0), Math.sqrt(1 / d), Math.sqrt(2 / d));
  return np.cos(phase.mul(Math.PI / (2 * d))).mul(weights);
}

/**
 * SVD-free projection (Modoranu et al. 2025): keep the r DCT-II basis vectors best aligned with the
 * gradient; only their indices are stored.
 */
export function dctProjector(): Projector<DctProjectorState> {
  return {
    name: "dct",
    init: ({ dim, rank }) => ({
      index: np.arange(rank, undefined, undefined, { dtype: np.int32 }),
      dim,
    }),
    refresh(g, state) {
      const r = state.index.shape[0];
      state.index.dispose();
      const aligned = np.matmul(dctBasis(state.dim), g);
      const scores = np.sqrt(aligned.ref.mul(aligned).sum(1));
      const [values, index] = lax.topK(scores, r);
      values.dispose();
      return { index: index.astype(np.int32), dim: state.dim };
    },
    basis: (state) => dctColumns(state.dim, state.index.ref),
  };
}
