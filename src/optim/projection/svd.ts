/**
 * svdProjector — GaLore's projector (Zhao et al. 2024; jiaweizzhao/GaLore galore_projector.py):
 *   Q = first r left singular vectors of the (oriented) gradient, G = U Σ Vᵀ → Q = U[:, :r],
 * each column sign-normalised (largest-magnitude entry positive). Uses the accurate SVD of
 * src/linalg (float64 Golub–Kahan on the host), not the engine's Gram-matrix SVD. State: Q
 * (dim × r, float32). A gradient with NaN/Inf entries keeps the previous basis (the SVD is
 * undefined). Checked through the GaLore trajectories (test/optim/galore.test.ts).
 */
import { numpy as np } from "@jax-js/jax";
import { lowRankBasis } from "../../linalg/low-rank-basis.js";
import type { Projector } from "./projector.js";

/** The state of {@link svdProjector}: the basis Q. */
export interface SvdProjectorState {
  q: np.Array;
}

/** Run `basis` on g unless g has NaN/Inf entries, in which case keep `previous`. Consumes g. */
export function finiteOr(g: np.Array, previous: np.Array, basis: (g: np.Array) => np.Array) {
  const finite = np.isfinite(g.ref).all().js() as unknown as boolean;
  if (!finite) {
    g.dispose();
    return previous;
  }
  previous.dispose();
  return basis(g).astype(np.float32);
}

/**
 * GaLore's projector (Zhao et al. 2024): the first r left singular vectors of the gradient,
 * sign-normalised; a non-finite gradient keeps the previous basis.
 */
export function svdProjector(): Projector<SvdProjectorState> {
  return {
    name: "svd",
    init: ({ dim, rank }) => ({ q: np.zeros([dim, rank]) }),
    refresh(g, state) {
      const r = state.q.shape[1];
      return { q: finiteOr(g, state.q, (x) => lowRankBasis(x, r, "left")) };
    },
    basis: (state) => state.q.ref,
  };
}
