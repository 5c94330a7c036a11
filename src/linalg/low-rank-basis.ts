/**
 * Orthonormal basis of the leading singular subspace of a gradient, as GaLore's projectors use.
 *
 * For G = U Σ Vᵀ (m×n):  side "left"  → P = U[:, :r]   (m×r; project with Pᵀ G, back with P X)
 *                         side "right" → P = Vᵀ[:r, :] (r×n; project with G Pᵀ, back with X P)
 * matching GaLore's `get_orthogonal_matrix(weights, rank, type)` (jiaweizzhao/GaLore,
 * galore_projector.py; read for the convention, no code copied), which takes these slices of
 * a full `torch.linalg.svd`. method "svd" uses the accurate ./svd.ts; "randomized" uses
 * ./randomized-svd.ts (Halko et al.), much cheaper when r ≪ min(m, n). Either way the vectors
 * are sign-normalised, so the basis is the same on every platform. The result is a fresh array
 * of exactly m×r or r×n (no view that keeps a full U alive).
 */
import type { numpy as np } from "@jax-js/jax";
import {
  checkInteger,
  checkMatrix,
  checkOneOf,
  type FloatDType,
  fromHost,
  toHost,
} from "./host.js";
import { type RandomizedSvdOptions, randomizedSvd } from "./randomized-svd.js";
import { hostSvd } from "./svd.js";

/** Which singular vectors {@link lowRankBasis} returns: "left" (m×r) or "right" (r×n). */
export type BasisSide = "left" | "right";

/** Options of {@link lowRankBasis}. */
export interface LowRankBasisOptions extends RandomizedSvdOptions {
  /** "svd" (default, exact) or "randomized". The other options apply to "randomized". */
  method?: "svd" | "randomized";
}

/**
 * Leading rank-r singular vectors of `g` (2-D float32/float64) as an m×r ("left") or r×n
 * ("right") matrix with orthonormal columns/rows, in g's dtype. Consumes `g` (and a key).
 */
export function lowRankBasis(
  g: np.Array,
  rank: number,
  side: BasisSide,
  options: LowRankBasisOptions = {},
): np.Array {
  checkMatrix("lowRankBasis", g);
  const [m, n] = g.shape;
  checkInteger("rank", rank, 1, Math.min(m, n));
  checkOneOf("side", side, ["left", "right"]);
  const { method = "svd", ...randomized } = options;
  checkOneOf("method", method, ["svd", "randomized"]);
  if (method === "randomized") {
    const { u, s, vt } = randomizedSvd(g, rank, randomized);
    s.dispose();
    if (side === "left") {
      vt.dispose();
      return u;
    }
    u.dispose();
    return vt;
  }
  const dtype = g.dtype as FloatDType;
  const r = hostSvd(toHost(g), m, n, false, dtype);
  if (side === "right") return fromHost(r.vt.subarray(0, rank * n), [rank, n], dtype);
  const p = new Float64Array(m * rank);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < rank; j++) p[i * rank + j] = r.u[i * r.uCols + j];
  }
  return fromHost(p, [m, rank], dtype);
}
