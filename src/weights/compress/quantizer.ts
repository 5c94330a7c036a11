/**
 * The round-to-nearest quantiser LQER and LQ-LoRA correct: weights/quantize/'s RTN (GPTQ's
 * symmetric per-group grid, one float32 scale per output row and `groupSize` inputs; default a
 * whole row), so the Q a method sees is exactly the Q that a compressed folder stores as integer
 * codes plus scales (weights/quantize/format.ts) and that loadModel dequantises.
 */
import type { numpy as np } from "@jax-js/jax";
import type { QuantBits } from "../quantize/grid.js";
import { dequantizeMatrix } from "../quantize/quantize-model.js";
import { rtnHost } from "../quantize/rtn.js";
import type { QuantizedWeight } from "./types.js";

/** Options of {@link rtnQuantizer}. */
export interface RtnOptions {
  /** 4 (default) or 8. */
  bits?: QuantBits;
  /** Inputs per scale; must divide every layer's input size (default: the whole row). */
  groupSize?: number;
}

/** W ↦ RTN(W): codes and scales, and Ŵ (float32). Borrows `w`. */
export function rtnQuantizer(options: RtnOptions = {}): (w: np.Array) => QuantizedWeight {
  const bits = options.bits ?? 4;
  return (w) => {
    const [rows, cols] = w.shape as [number, number];
    const matrix = rtnHost(
      w.ref.dataSync() as Float32Array,
      rows,
      cols,
      bits,
      options.groupSize ?? cols,
    );
    return { value: dequantizeMatrix(matrix), matrix };
  };
}
