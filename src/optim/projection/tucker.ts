/**
 * Tucker projection of GaLore for leaves with three or more dimensions (Tensor-GaLore: George et
 * al. 2024, "Tensor-GaLore: Memory-Efficient Training via Gradient Tensor Decomposition"): the
 * gradient G (d_1 × … × d_N) is projected onto the leading subspaces of its mode unfoldings,
 *   U_k = the r_k leading left singular vectors of G_(k) (d_k × Π_{j≠k} d_j),  r_k = min(rank, d_k)
 *   core = G ×_1 U_1ᵀ ×_2 … ×_N U_Nᵀ   (r_1 × … × r_N),   back: X ×_1 U_1 … ×_N U_N
 * (a truncated HOSVD, De Lathauwer et al. 2000). `scaleByTuckerGalore` runs GaLore's Adam on the
 * core: factors refreshed from the gradient every `updateProjGap` steps (from step 0), the moments
 * kept across refreshes as GaLore does, the direction
 *   N = m/(√v + ε),  d = scale·√(1−β2ᵗ)/(1−β1ᵗ)·(N ×_k U_k)          (GaLore's AdamW arithmetic)
 * U_k from the eigenvectors of G_(k) G_(k)ᵀ (float64 on the host), each column's largest entry
 * made positive (as the SVD projectors here) so runs are reproducible.
 * Reference: the paper's projector (its code runs tensorly's `tucker`, i.e. HOOI started from the
 * HOSVD); checked against a NumPy truncated HOSVD and a NumPy re-implementation of the step
 * (tools/fixtures/round2b_tucker.py, test/optim/round2b-tucker.test.ts).
 * Deviations: the factors are the HOSVD's, without HOOI's refining sweeps; one rank for every
 * mode (capped by the mode's size).
 * State per leaf: the factors (Σ d_k·r_k floats) and two core-shaped moments (2·Π r_k).
 */
import { numpy as np } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import { symmetricEigen } from "../../linalg/matrix-functions.js";
import type { GradientTransformation } from "../core.js";
import { biasCorrection, ema, emaSquare } from "../transforms/moments.js";
import { signNormalizeColumns } from "./projector.js";

/**
 * x ×_k M: contracts axis k of x with M's rows' entries (M: n × d_k), the new axis in place k.
 * Consumes x and m.
 */
export function modeProduct(x: np.Array, m: np.Array, k: number): np.Array {
  return np.moveaxis(np.tensordot(x, m, [[k], [1]]), -1, k);
}

/** The mode-k unfolding G_(k) (d_k × rest). Borrows x. */
const unfold = (x: np.Array, k: number) => np.moveaxis(x.ref, k, 0).reshape([x.shape[k], -1]);

/** The truncated HOSVD's factors U_k (d_k × min(rank, d_k)). Borrows g. */
export function hosvdFactors(g: np.Array, rank: number): np.Array[] {
  return g.shape.map((d, k) => {
    const gk = unfold(g, k);
    const [values, vectors] = symmetricEigen(np.matmul(gk.ref, gk.transpose()));
    values.dispose();
    return signNormalizeColumns(vectors.slice([], [0, Math.min(rank, d)]));
  });
}

/** core = x ×_k U_kᵀ for every k. Consumes x, borrows the factors. */
export const tuckerProject = (x: np.Array, factors: np.Array[]): np.Array =>
  factors.reduce((acc, u, k) => modeProduct(acc, u.ref.transpose(), k), x);

/** x ×_k U_k for every k. Consumes core, borrows the factors. */
export const tuckerExpand = (core: np.Array, factors: np.Array[]): np.Array =>
  factors.reduce((acc, u, k) => modeProduct(acc, u.ref, k), core);

/** Options of {@link scaleByTuckerGalore}. */
export interface TuckerGaloreOptions {
  rank: number;
  updateProjGap: number;
  scale: number;
  b1: number;
  b2: number;
  eps: number;
}

interface TuckerLeaf {
  factors: np.Array[];
  mu: np.Array;
  nu: np.Array;
}

/** The state: the step count and, per leaf, its factors and core moments. */
export interface TuckerGaloreState {
  count: number;
  leaves: Record<string, TuckerLeaf>;
}

/** GaLore's Adam on the Tucker core of each (≥3-D) leaf (see the header). */
export function scaleByTuckerGalore(
  o: TuckerGaloreOptions,
): GradientTransformation<TuckerGaloreState> {
  return {
    init(params) {
      const leaves: Record<string, TuckerLeaf> = {};
      tree.walk(params, (p: np.Array, path) => {
        const ranks = p.shape.map((d) => Math.min(o.rank, d));
        leaves[path] = {
          factors: p.shape.map((d, k) => np.zeros([d, ranks[k]])),
          mu: np.zeros(ranks),
          nu: np.zeros(ranks),
        };
      });
      tree.dispose(params);
      return { count: 0, leaves };
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const t = state.count + 1;
      const refresh = state.count % o.updateProjGap === 0;
      const size = (o.scale * Math.sqrt(biasCorrection(o.b2, t))) / biasCorrection(o.b1, t);
      const leaves: Record<string, TuckerLeaf> = {};
      const out = tree.mapWithPath((g: np.Array, path) => {
        const s = state.leaves[path];
        let factors = s.factors;
        if (refresh) {
          for (const f of factors) f.dispose();
          factors = hosvdFactors(g, o.rank);
        }
        const core = tuckerProject(g, factors);
        const mu = ema(s.mu, core.ref, o.b1);
        const nu = emaSquare(s.nu, core, o.b2);
        const n = mu.ref.div(np.sqrt(nu.ref).add(o.eps));
        leaves[path] = { factors, mu, nu };
        return tuckerExpand(n, factors).mul(size);
      }, updates);
      return [out, { count: t, leaves }];
    },
  };
}
