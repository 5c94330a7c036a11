/**
 * The round-to-nearest quantiser LQER and LQ-LoRA correct: symmetric absmax per group of `g`
 * consecutive inputs of a row (default g = in: one scale per output row),
 *
 *   scale = max_j∈group |W_ij| / q_max,  Q_ij = scale · clip(rint(W_ij / scale), −q_max, q_max),
 *   q_max = 2^(bits−1) − 1 (7 for 4 bits, 127 for 8),
 *
 * computed with linalg/quantize.ts (blockwise absmax codes) and dequantised back to float32, so
 * the methods see exactly the Q that the codes represent.
 * Deviations: symmetric absmax grid (GPTQ's reference quantiser uses min/max with a zero point).
 */
import type { numpy as np } from "@jax-js/jax";
import { dequantize, type QuantBits, quantize } from "../../linalg/quantize.js";

/** Options of {@link rtnQuantizer}. */
export interface RtnOptions {
  /** 4 (default) or 8. */
  bits?: QuantBits;
  /** Inputs per scale; must divide every layer's input size (default: the whole row). */
  groupSize?: number;
}

/** Check bits and group size against an input size (RangeError naming the option). */
export function checkRtn({ bits = 4, groupSize }: RtnOptions, inputs: number): void {
  if (bits !== 4 && bits !== 8)
    throw new RangeError(`bits must be 4 or 8, got ${JSON.stringify(bits)}`);
  const g = groupSize ?? inputs;
  const perWord = 32 / bits;
  if (!Number.isInteger(g) || g < 1 || inputs % g !== 0 || g % perWord !== 0) {
    throw new RangeError(
      `groupSize must divide the layer input size ${inputs} and be a multiple of ${perWord} for ${bits}-bit codes, got ${JSON.stringify(groupSize)}`,
    );
  }
}

/** W ↦ RTN(W) (float32, dequantised). Borrows `w`. */
export function rtnQuantizer(options: RtnOptions = {}): (w: np.Array) => np.Array {
  const bits = options.bits ?? 4;
  return (w) => {
    const inputs = w.shape[1]!;
    checkRtn(options, inputs);
    return dequantize(quantize(w.ref, { bits, blockSize: options.groupSize ?? inputs }));
  };
}
