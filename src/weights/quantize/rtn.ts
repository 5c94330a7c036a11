/**
 * Round to nearest (RTN): every weight to its nearest code on the symmetric grid (grid.ts) of its
 * group, with no calibration — GPTQ's baseline ("RTN" in Frantar et al. 2023, Table 1), i.e.
 * IST-DASLab/gptq's Quantizer applied to the whole weight (`--nearest` in its llama.py).
 *
 * Host loops over a Float32Array: one pass, run once per layer when a model is written (not a
 * training path); the codes are packed on the host for the file anyway.
 */
import { gridCode, gridScale, type QuantBits } from "./grid.js";
import type { QuantizedMatrix } from "./types.js";

/** The group scales of W [rows, cols] (row-major), one per row and `groupSize` columns. */
export function groupScales(
  w: ArrayLike<number>,
  rows: number,
  cols: number,
  bits: QuantBits,
  groupSize: number,
): Float32Array {
  const groups = cols / groupSize;
  const scales = new Float32Array(rows * groups);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      let min = Infinity;
      let max = -Infinity;
      for (let c = g * groupSize; c < (g + 1) * groupSize; c++) {
        const v = w[r * cols + c];
        if (v < min) min = v;
        if (v > max) max = v;
      }
      scales[r * groups + g] = gridScale(min, max, bits);
    }
  }
  return scales;
}

/** RTN codes and scales of W [rows, cols] (row-major). */
export function rtnHost(
  w: ArrayLike<number>,
  rows: number,
  cols: number,
  bits: QuantBits,
  groupSize = cols,
): QuantizedMatrix {
  const scales = groupScales(w, rows, cols, bits, groupSize);
  const groups = cols / groupSize;
  const codes = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const scale = scales[r * groups + Math.floor(c / groupSize)];
      codes[r * cols + c] = gridCode(w[r * cols + c], scale, bits);
    }
  }
  return { rows, cols, bits, groupSize, codes, scales };
}
