/**
 * The Optimal-Brain-Surgeon machinery SparseGPT (prune/sparsegpt.ts) and GPTQ
 * (quantize/gptq.ts) share: the layer Hessian from calibration, its damped inverse factor, and
 * the lazy "block" update that spreads a block's errors over the columns after it.
 *
 *   H = (2/N)·XᵀX (N calibration sequences); dead inputs (H_ii = 0): H_ii = 1, W[:, i] = 0;
 *   H_ii += damp·mean(diag H);  U = upper Cholesky factor of H⁻¹ (host-cholesky.ts).
 *   After a block [i1, i2) of columns with per-column errors Err [rows, i2 − i1]:
 *   W[:, i2:] −= Err·U[i1:i2, i2:].
 *
 * Reference: IST-DASLab/sparsegpt sparsegpt.py `fasterprune` and IST-DASLab/gptq gptq.py
 * `fasterquant` (the same lines in both). Host float64, as host-cholesky.ts explains.
 */
import { upperCholeskyOfInverse } from "./host-cholesky.js";

/** Blocks of 128 columns and 1% damping, the references' defaults. */
export const OBS_BLOCK = 128;
export const OBS_DAMP = 0.01;

/**
 * U with UᵀU = (H + damping)⁻¹, H = (2/samples)·gram. Zeroes W's dead columns (inputs never
 * seen: H_ii = 0) in place, as the references do before the factorisation.
 */
export function obsInverseFactor(
  w: Float64Array,
  rows: number,
  cols: number,
  gram: Float64Array,
  samples: number,
  damp = OBS_DAMP,
): Float64Array {
  const h = Float64Array.from(gram, (v) => (2 / samples) * v);
  let meanDiag = 0;
  for (let i = 0; i < cols; i++) {
    if (h[i * cols + i] === 0) {
      h[i * cols + i] = 1;
      for (let r = 0; r < rows; r++) w[r * cols + i] = 0;
    }
    meanDiag += h[i * cols + i] / cols;
  }
  for (let i = 0; i < cols; i++) h[i * cols + i] += damp * meanDiag;
  return upperCholeskyOfInverse(h, cols);
}

/** W[:, i2:] −= Err·U[i1:i2, i2:], Err [rows, i2 − i1] row-major (zero entries skipped). */
export function spreadBlockError(
  w: Float64Array,
  rows: number,
  cols: number,
  err: Float64Array,
  i1: number,
  i2: number,
  u: Float64Array,
): void {
  const count = i2 - i1;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < count; c++) {
      const e = err[r * count + c];
      if (e === 0) continue;
      const urow = (i1 + c) * cols;
      for (let j = i2; j < cols; j++) w[r * cols + j] -= e * u[urow + j];
    }
  }
}
