/**
 * The empirical Fisher information of the calibration loss, summed per output row of every
 * decoder linear weight, for FWSVD:
 *
 *   F_i = Σ_s Σ_j (∂L_s/∂W_ij)²,
 *
 * L_s the mean next-token cross-entropy of calibration sequence s (tokens 1..T−1 predicted from
 * 0..T−2), at the model as given (uncompressed): per-sample squares, not the square of a batch
 * mean, as FWSVD's Fisher is, reduced over columns so only [out] vectors accumulate
 * (../gradient-statistics.ts).
 */
import { numpy as np } from "@jax-js/jax";
import type { LlamaParams } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";
import { type CalibrationIds, sumGradientStatistic } from "../gradient-statistics.js";

/** Calibration ids, samples × seqLen row-major. */
export type CompressCalibration = CalibrationIds;

/** Row Fisher sums by module name (without ".weight"); `onSequence` is told after each. Borrows `params`. */
export function rowFisher(
  params: LlamaParams,
  config: LlamaConfig,
  calibration: CompressCalibration,
  onSequence?: (done: number, total: number) => void,
): Map<string, Float64Array> {
  const sums = sumGradientStatistic(
    params,
    config,
    calibration,
    { of: (g) => np.square(g).sum(1), shape: ([rows]) => [rows] },
    onSequence,
  );
  return new Map([...sums].map(([name, sum]) => [name.slice(0, -".weight".length), sum]));
}
