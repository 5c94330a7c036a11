/**
 * The empirical Fisher information of the calibration loss, summed per output row of every
 * decoder linear weight, for FWSVD:
 *
 *   F_i = Σ_s Σ_j (∂L_s/∂W_ij)²,
 *
 * L_s the mean next-token cross-entropy of calibration sequence s (tokens 1..T−1 predicted from
 * 0..T−2), at the model as given (uncompressed). One jit'ed gradient per sequence (per-sample
 * squares, not the square of a batch mean, as FWSVD's Fisher is); the squares are reduced over
 * columns and added in one jit'ed step, so only [out] vectors accumulate.
 */
import { jit, numpy as np } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import { type LlamaParams, makeLossAndGrad } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";
import { BLOCK_LINEARS } from "../calibration.js";

/** Calibration ids, samples × seqLen row-major. */
export interface CompressCalibration {
  tokens: Int32Array;
  samples: number;
  seqLen: number;
}

/** Row Fisher sums by module name (without ".weight"); `onSequence` is told after each. Borrows `params`. */
export function rowFisher(
  params: LlamaParams,
  config: LlamaConfig,
  { tokens, samples, seqLen }: CompressCalibration,
  onSequence?: (done: number, total: number) => void,
): Map<string, Float64Array> {
  const names: string[] = [];
  for (let i = 0; i < config.num_hidden_layers; i++) {
    for (const m of BLOCK_LINEARS) names.push(`model.layers.${i}.${m}.weight`);
  }
  const lossAndGrad = makeLossAndGrad(config);
  const accumulate = jit((sums: LlamaParams, grads: LlamaParams) => {
    const next: LlamaParams = {};
    for (const k of Object.keys(sums)) next[k] = sums[k]!.add(np.square(grads[k]!).sum(1));
    return next;
  });
  let sums: LlamaParams = {};
  for (const name of names) sums[name] = np.zeros([params[name]!.shape[0]!], { dtype: np.float32 });
  try {
    for (let s = 0; s < samples; s++) {
      const row = tokens.subarray(s * seqLen, (s + 1) * seqLen);
      const shape = [1, seqLen - 1];
      const inputs = np.array(row.subarray(0, seqLen - 1), { shape, dtype: np.int32 });
      const targets = np.array(row.subarray(1), { shape, dtype: np.int32 });
      const [loss, grads] = lossAndGrad(tree.ref(params), inputs, targets);
      loss.dispose();
      const linear: LlamaParams = {};
      for (const [name, g] of Object.entries(grads)) {
        if (name in sums) linear[name] = g;
        else g.dispose();
      }
      sums = accumulate(sums, linear);
      onSequence?.(s + 1, samples);
    }
  } catch (error) {
    tree.dispose(sums);
    throw error;
  } finally {
    lossAndGrad.dispose();
    accumulate.dispose();
  }
  const out = new Map<string, Float64Array>();
  for (const [name, sum] of Object.entries(sums)) {
    out.set(name.slice(0, -".weight".length), Float64Array.from(sum.dataSync() as Float32Array));
  }
  return out;
}
