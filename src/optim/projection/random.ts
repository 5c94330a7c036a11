/**
 * randomProjector — random projections resampled at every refresh, ignoring the gradient:
 *   orthogonal (GoLore, He et al. 2024, "Subspace Optimization for Large Language Models with
 *   Convergence Guarantees"): Q = orthonormal basis of a dim × r standard normal matrix (its
 *   reduced QR), i.e. uniform on the Stiefel manifold;
 *   Gaussian (Flora, Hao et al. 2024, "Flora: Low-Rank Adapters Are Secretly Gradient
 *   Compressors"): Q with N(0, 1/r) entries, so that E[Q Qᵀ] = I.
 * A fresh PRNG key per refresh, derived from the leaf's seed and the refresh count, so runs are
 * reproducible and resume exactly from a checkpoint. State: Q (dim × r, float32) and two numbers.
 * Checked by orthonormality, resampling and determinism (test/optim/galore-projectors.test.ts).
 * Deviation from Flora: Flora regenerates Q from its seed instead of storing it, and transports
 * the momentum between bases; here Q is stored and the moments stay in the old basis, as GaLore.
 */
import { numpy as np, random } from "@jax-js/jax";
import { orthonormalize } from "../../linalg/qr.js";
import * as check from "../validate.js";
import { drawKey, type Projector } from "./projector.js";

/** Options of {@link randomProjector}. */
export interface RandomProjectorOptions {
  /** Orthonormal columns (GoLore, default) or scaled Gaussian ones (Flora). */
  orthogonal?: boolean;
}

/**
 * The state of {@link randomProjector}: the basis, the leaf's seed and the number of draws so far.
 */
export interface RandomProjectorState {
  q: np.Array;
  seed: number;
  draws: number;
}

/**
 * Random bases resampled at every refresh: orthonormal (GoLore, default) or scaled Gaussian
 * (Flora).
 */
export function randomProjector(
  options: RandomProjectorOptions = {},
): Projector<RandomProjectorState> {
  check.knownOptions("randomProjector", options, ["orthogonal"]);
  const orthogonal = check.boolean("orthogonal", options.orthogonal ?? true);
  return {
    name: "random",
    init: ({ dim, rank, seed }) => ({ q: np.zeros([dim, rank]), seed, draws: 0 }),
    refresh(g, state) {
      g.dispose();
      const shape = state.q.shape;
      state.q.dispose();
      const z = random.normal(drawKey(state.seed, state.draws), shape);
      const q = orthogonal ? orthonormalize(z) : z.mul(1 / Math.sqrt(shape[1]));
      return { q, seed: state.seed, draws: state.draws + 1 };
    },
    basis: (state) => state.q.ref,
  };
}
