/**
 * CUR decomposition: W ≈ C U R with C = k actual columns of W, R = k actual rows, and the link
 *
 *   U = C⁺ W R⁺   (the Frobenius-optimal U for the chosen C and R; ⁺ = Moore–Penrose pseudo-
 *                  inverse, singular values below max(out, in)·ε·σ_max treated as zero)
 *
 * Columns and rows are chosen by their leverage scores with respect to the top-k singular
 * subspaces: π_j = Σ_{i≤k} V_ji² for column j, ρ_i = Σ_{t≤k} U_it² for row i (each sums to k);
 * the k largest of each are kept. When W has rank k and the chosen C and R do too, C U R = W
 * exactly (tested).
 *
 * Papers: Mahoney & Drineas 2009, "CUR matrix decompositions for improved data analysis" (PNAS;
 * leverage scores, U through pseudo-inverses); Stewart 1999 and Papailiopoulos, Kyrillidis &
 * Boutsidis 2014, "Provable deterministic leverage score sampling" (the deterministic top-k
 * choice used here).
 * Stored as two factors so the model runs it like any low-rank layer: B = C U [out, k],
 * A = R [k, in] (rows of W itself). The rank k comes from W's spectrum by the rank rule.
 * Deviations: deterministic top-k selection with c = r = k (Mahoney & Drineas sample
 * c, r = O(k log k / ε²) columns and rows at random), so no seed is needed.
 */
import { nn, numpy as np } from "@jax-js/jax";
import { float64Array } from "../../engine/float64.js";
import { svd } from "../../linalg/svd.js";
import type { CompressMethod, LayerFactors } from "./types.js";

/** Indices of the k largest values (ties: the lower index first), ascending. */
export function topIndices(scores: Float64Array, k: number): Int32Array {
  const order = Array.from(scores.keys()).sort((i, j) => scores[j]! - scores[i]! || i - j);
  return Int32Array.from(order.slice(0, k)).sort();
}

/** Σ over the first k rows of a row-major `rows`×`cols` matrix of its squares, per column. */
function leverage(data: Float64Array, rows: number, cols: number, k: number): Float64Array {
  const out = new Float64Array(cols);
  for (let i = 0; i < Math.min(k, rows); i++) {
    for (let j = 0; j < cols; j++) out[j] += data[i * cols + j]! ** 2;
  }
  return out;
}

/** Moore–Penrose pseudo-inverse of a float64 matrix (consumed) through its SVD. */
export function pinv(m: np.Array): np.Array {
  const [rows, cols] = m.shape as [number, number];
  const { u, s, vt } = svd(m);
  const values = s.dataSync() as Float64Array;
  const tol = Math.max(rows, cols) * 2 ** -52 * (values[0] ?? 0);
  const inv = new Float64Array(values.length).map((_, i) =>
    values[i]! > tol ? 1 / values[i]! : 0,
  );
  const scaled = vt.transpose().mul(float64Array(inv, [1, inv.length]));
  return np.matmul(scaled, u.transpose());
}

/** Row selector [k, n] (one-hot rows, float64) for the given indices. */
const selector = (indices: Int32Array, n: number) =>
  nn.oneHot(np.array(indices, { dtype: np.int32 }), n).astype(np.float64);

export const cur: CompressMethod = {
  name: "cur",
  description:
    "CUR: k columns and rows of W chosen by leverage score, linked by U = C⁺ W R⁺ (Mahoney & Drineas 2009)",
  needs: "none",
  prepare(weight) {
    const [out, inp] = weight.shape as [number, number];
    const w = weight.astype(np.float64);
    const { u, s, vt } = svd(w.ref);
    const spectrum = Float64Array.from(s.dataSync() as Float64Array);
    const ut = u.transpose().dataSync() as Float64Array; // k×out: row i = u_i
    const v = vt.dataSync() as Float64Array; // k×in
    const kMax = spectrum.length;
    let spent = false;
    return {
      spectrum,
      build(rank: number): LayerFactors {
        if (spent) throw new Error("cur: build was already called");
        spent = true;
        const cols = topIndices(leverage(v, kMax, inp, rank), rank);
        const rows = topIndices(leverage(ut, kMax, out, rank), rank);
        const c = np.matmul(w.ref, selector(cols, inp).transpose()); // [out, k]
        const r = np.matmul(selector(rows, out), w.ref); // [k, in]
        const link = np.matmul(np.matmul(pinv(c.ref), w.ref), pinv(r.ref)); // [k, k]
        return { a: r.astype(np.float32), b: np.matmul(c, link).astype(np.float32) };
      },
      dispose() {
        w.dispose();
      },
    };
  },
};
