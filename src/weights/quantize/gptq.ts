/**
 * GPTQ: quantise a layer column by column, each column's rounding error spread over the columns
 * not yet quantised so that the layer's output on the calibration inputs changes least (the
 * Optimal Brain Surgeon update, through the Cholesky factor of H⁻¹ that SparseGPT uses).
 *
 *   H = (2/N)·XᵀX, dead inputs zeroed, H_ii += 0.01·mean(diag H), U = chol(H⁻¹) upper
 *   (prune/hessian.ts). For blocks [i1, i2) of 128 columns, per column i:
 *   q = grid code of W[:, i] (grid.ts), Ŵ[:, i] = scale·(q − zero), err = (W[:, i] − Ŵ[:, i])/U_ii,
 *   W[:, i:i2] −= err ⊗ U[i, i:i2]; after the block W[:, i2:] −= Err·U[i1:i2, i2:].
 *   Scales: per row (groupSize = in) from W before anything is updated; with groups, from the
 *   group's columns when column i opens a group (i % groupSize = 0).
 *
 * Paper: Frantar et al. 2023, "GPTQ: Accurate Post-Training Quantization for Generative
 * Pre-trained Transformers". Reference: IST-DASLab/gptq gptq.py `fasterquant` (blocksize 128,
 * percdamp 0.01, actorder off, static_groups off) with quant.py's Quantizer (sym).
 * As the reference: a group that opens inside a block takes its scales from the block's columns
 * as they were when the block began (the reference reads W, whose block columns are updated only
 * in its copy W1), and per-row scales are found before dead inputs are zeroed.
 * Deviations: host float64 (the reference: float32 on the GPU) with JavaScript loops, as
 * SparseGPT here (the column loop is sequential by nature; these layers are small); scales are
 * float32 (grid.ts).
 */
import { OBS_BLOCK, OBS_DAMP, obsInverseFactor, spreadBlockError } from "../prune/hessian.js";
import { gridCode, gridScale, type QuantBits, zeroPoint } from "./grid.js";
import { groupScales } from "./rtn.js";
import type { QuantizedMatrix } from "./types.js";

/**
 * GPTQ codes and scales of W [rows, cols] (row-major float64, updated in place: it ends as the
 * dequantised weight Ŵ) from the Gram matrix XᵀX of its inputs over `samples` sequences.
 */
export function gptqHost(
  w: Float64Array,
  rows: number,
  cols: number,
  gram: Float64Array,
  samples: number,
  bits: QuantBits,
  groupSize = cols,
  blockSize = OBS_BLOCK,
  damp = OBS_DAMP,
): QuantizedMatrix {
  const grouped = groupSize !== cols;
  const groups = cols / groupSize;
  const scales = grouped
    ? new Float32Array(rows * groups)
    : groupScales(w, rows, cols, bits, groupSize);
  const u = obsInverseFactor(w, rows, cols, gram, samples, damp);
  const zero = zeroPoint(bits);
  const codes = new Uint8Array(rows * cols);

  for (let i1 = 0; i1 < cols; i1 += blockSize) {
    const i2 = Math.min(i1 + blockSize, cols);
    const count = i2 - i1;
    const start = grouped ? blockColumns(w, rows, cols, i1, i2) : undefined;
    const err = new Float64Array(rows * count);
    for (let c = 0; c < count; c++) {
      const i = i1 + c;
      const group = Math.floor(i / groupSize);
      if (start && i % groupSize === 0) {
        const end = Math.min(i + groupSize, cols);
        for (let r = 0; r < rows; r++) {
          let min = Infinity;
          let max = -Infinity;
          for (let j = i; j < end; j++) {
            const v = j < i2 ? start[r * count + j - i1] : w[r * cols + j];
            if (v < min) min = v;
            if (v > max) max = v;
          }
          scales[r * groups + group] = gridScale(min, max, bits);
        }
      }
      const d = u[i * cols + i];
      for (let r = 0; r < rows; r++) {
        const x = w[r * cols + i];
        const scale = scales[r * groups + group];
        const q = gridCode(x, scale, bits);
        const xq = scale * (q - zero);
        codes[r * cols + i] = q;
        const e = (x - xq) / d;
        err[r * count + c] = e;
        for (let j = i + 1; j < i2; j++) w[r * cols + j] -= e * u[i * cols + j];
        w[r * cols + i] = xq;
      }
    }
    spreadBlockError(w, rows, cols, err, i1, i2, u);
  }
  return { rows, cols, bits, groupSize, codes, scales };
}

/** A copy of W[:, i1:i2] as [rows, i2 − i1]. */
function blockColumns(
  w: Float64Array,
  rows: number,
  cols: number,
  i1: number,
  i2: number,
): Float64Array {
  const out = new Float64Array(rows * (i2 - i1));
  for (let r = 0; r < rows; r++) out.set(w.subarray(r * cols + i1, r * cols + i2), r * (i2 - i1));
  return out;
}
