/**
 * Fisher-weighted SVD (FWSVD): a truncated SVD whose error is weighted per output row by how
 * much the loss cares about that row,
 *
 *   min_{rank r} ‖D (W − B A)‖_F,   D = diag(d_i),  d_i = √(Σ_j F_ij),
 *   F_ij = Σ_s (∂L_s/∂W_ij)²  (empirical Fisher: squared per-sequence gradients of the
 *          calibration loss, summed),
 *   solved as B A = D⁻¹ (D W)_r: the SVD of D W truncated, then the weighting undone.
 *
 * Paper: Hsu, Hua, Tseng, Shen, Jin 2022, "Language model compression with weighted low-rank
 * factorization" (ICLR), §3: the Fisher information summed over each row as the row weight.
 * Rows are W's output rows in HF's [out, in] layout. With uniform Fisher D is a multiple of I
 * and FWSVD equals truncated SVD (tested). The rank rule reads the singular values of D W.
 * Deviations: row weights below 1e-6 of the largest are raised to it (a row the calibration
 * never moved would otherwise divide by zero); the Fisher is computed at the uncompressed model
 * in one pass (./fisher.ts), in float32.
 */
import { numpy as np } from "@jax-js/jax";
import { float64Array } from "../../engine/float64.js";
import { svdPlan } from "./factors.js";
import type { CompressMethod } from "./types.js";

/** d_i = √(row Fisher_i), floored at 1e-6·max (all ones when the Fisher is all zero). */
export function fisherRowWeights(rowFisher: Float64Array): Float64Array {
  const d = rowFisher.map((f) => Math.sqrt(Math.max(f, 0)));
  const max = d.reduce((m, v) => Math.max(m, v), 0);
  if (!(max > 0)) return d.fill(1);
  const floor = 1e-6 * max;
  return d.map((v) => Math.max(v, floor));
}

export const fwsvd: CompressMethod = {
  name: "fwsvd",
  description:
    "Fisher-weighted SVD: rows weighted by √(Σ_j Fisher) of the calibration loss (Hsu et al. 2022)",
  needs: "fisher",
  prepare(weight, { rowFisher, module }) {
    if (!rowFisher) {
      weight.dispose();
      throw new Error(`fwsvd needs the calibration Fisher (${module})`);
    }
    const d = fisherRowWeights(rowFisher);
    const rows = float64Array(d, [d.length, 1]);
    return svdPlan(weight.astype(np.float64).mul(rows), { rowScale: d });
  },
};
