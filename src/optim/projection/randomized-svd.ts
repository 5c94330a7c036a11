/**
 * randomizedSvdProjector — the top-r left singular vectors of the oriented gradient from a
 * randomized SVD (Halko, Martinsson & Tropp 2011: range finder with oversampling p and q power
 * iterations, then an exact SVD of the small projected matrix), sign-normalised like the SVD
 * projector. Cost O(dim·k·(r+p)·(1+2q)) instead of O(dim·k·min(dim, k)). The sketch is seeded
 * per refresh from the leaf's seed and the refresh count. State: Q (dim × r) and two numbers.
 * Checked against the exact SVD projector on gradients with a spectral gap
 * (test/optim/galore-projectors.test.ts).
 */
import { numpy as np } from "@jax-js/jax";
import { lowRankBasis } from "../../linalg/low-rank-basis.js";
import * as check from "../validate.js";
import { leafSeed, type Projector } from "./projector.js";
import { finiteOr } from "./svd.js";

/** Options of {@link randomizedSvdProjector}. */
export interface RandomizedSvdProjectorOptions {
  /** Extra sketch columns (default 10). */
  oversample?: number;
  /** Power iterations (default 2). */
  powerIters?: number;
}

/**
 * The state of {@link randomizedSvdProjector}: the basis, the leaf's seed and the number of draws
 * so far.
 */
export interface RandomizedSvdProjectorState {
  q: np.Array;
  seed: number;
  draws: number;
}

/**
 * The top-r left singular vectors from a randomized SVD (Halko et al. 2011), sign-normalised;
 * faster than the exact SVD on large matrices.
 */
export function randomizedSvdProjector(
  options: RandomizedSvdProjectorOptions = {},
): Projector<RandomizedSvdProjectorState> {
  check.knownOptions("randomizedSvdProjector", options, ["oversample", "powerIters"]);
  const oversample = check.integer("oversample", options.oversample ?? 10, 0);
  const powerIters = check.integer("powerIters", options.powerIters ?? 2, 0);
  return {
    name: "randomized_svd",
    init: ({ dim, rank, seed }) => ({ q: np.zeros([dim, rank]), seed, draws: 0 }),
    refresh(g, state) {
      const r = state.q.shape[1];
      const seed = leafSeed(state.seed, state.draws);
      const q = finiteOr(g, state.q, (x) =>
        lowRankBasis(x, r, "left", { method: "randomized", oversample, powerIters, seed }),
      );
      return { q, seed: state.seed, draws: state.draws + 1 };
    },
    basis: (state) => state.q.ref,
  };
}
