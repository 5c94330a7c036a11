/**
 * Shared by the SVD-based methods: the singular value decomposition of a (possibly weighted)
 * matrix, in float64 through linalg/svd.ts (jax-js's own svd loses orthogonality), and the
 * factors of its rank-r truncation split evenly between the two sides:
 *
 *   M ≈ U_r Σ_r V_rᵀ,   B = D_row⁻¹ U_r Σ_r^½  [out, r],   A = Σ_r^½ V_rᵀ D_col⁻¹  [r, in]
 *
 * where M = D_row W D_col is the weighted matrix (FWSVD weights rows, LQER scales columns), so
 * B A = D_row⁻¹ (M)_r D_col⁻¹ approximates W. The even split (rather than B = U_r Σ_r) keeps
 * both factors on the same scale, which float32 storage and later fine-tuning prefer.
 */
import { numpy as np } from "@jax-js/jax";
import { float64Array } from "../../engine/float64.js";
import { svd } from "../../linalg/svd.js";
import type { LayerFactors, LayerPlan, QuantizedWeight } from "./types.js";

/** A float64 host vector as a jax-js float64 array of `shape`. */
const vector64 = (v: Float64Array, shape: number[]) => float64Array(v, shape);

/**
 * A plan over the SVD of `matrix` (float64, consumed): spectrum = its singular values, build(r)
 * = the rank-r factors with the weights undone (`rowScale` per output row, `colScale` per
 * input column: the D_row, D_col above), cast to float32. `quantized` is returned beside the
 * factors (LQER's Q and its codes), owned by the plan until built.
 */
export function svdPlan(
  matrix: np.Array,
  {
    rowScale,
    colScale,
    quantized,
  }: { rowScale?: Float64Array; colScale?: Float64Array; quantized?: QuantizedWeight } = {},
): LayerPlan {
  const [out, inp] = matrix.shape as [number, number];
  const { u, s, vt } = svd(matrix);
  const spectrum = Float64Array.from(s.ref.dataSync() as Float64Array);
  let spent = false;
  let kept = quantized;
  return {
    spectrum,
    build(rank: number): LayerFactors {
      if (spent) throw new Error("svdPlan: build was already called");
      spent = true;
      const root = np.sqrt(s.ref.slice([0, rank]));
      let b = u.ref.slice([], [0, rank]).mul(root.ref.reshape([1, rank]));
      let a = vt.ref.slice([0, rank]).mul(root.reshape([rank, 1]));
      if (rowScale) b = b.div(vector64(rowScale, [out, 1]));
      if (colScale) a = a.div(vector64(colScale, [1, inp]));
      const result: LayerFactors = { a: a.astype(np.float32), b: b.astype(np.float32) };
      if (kept) {
        result.dense = kept.value;
        result.quantized = kept.matrix;
      }
      kept = undefined;
      return result;
    },
    dispose() {
      u.dispose();
      s.dispose();
      vt.dispose();
      kept?.value.dispose();
      kept = undefined;
    },
  };
}
