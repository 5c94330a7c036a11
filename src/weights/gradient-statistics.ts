/**
 * A statistic of the calibration loss's gradient, summed over sequences, for every decoder
 * linear weight:
 *
 *   S_W = Σ_s f(∂L_s/∂W),
 *
 * L_s the mean next-token cross-entropy of calibration sequence s (tokens 1..T−1 predicted from
 * 0..T−2). One jit'ed gradient per sequence (per-sample statistics, not the statistic of a batch
 * mean), added into the running sums by one jit'ed step. GBLM-Pruner takes f(g) = (100·g)²
 * (prune/prune-model.ts), FWSVD the row sums of g² (compress/fisher.ts).
 *
 * Each sequence's step is run before the next is queued: jax-js evaluates lazily, and left alone
 * it held every sequence's gradients until the final read (GBLM on the default preset: 16
 * sequences 1017 MiB → 370 MiB; 64 sequences went from seconds to past ten minutes).
 */
import { jit, numpy as np } from "@jax-js/jax";
import * as tree from "../engine/tree.js";
import { type LlamaParams, makeLossAndGrad } from "../nn/llama.js";
import type { LlamaConfig } from "../nn/llama-config.js";
import { BLOCK_LINEARS } from "./calibration.js";

/** Calibration ids, samples × seqLen row-major. */
export interface CalibrationIds {
  tokens: Int32Array;
  samples: number;
  seqLen: number;
}

/** What to sum: f(g) of a weight's gradient, and the shape of f's result for a weight's shape. */
export interface GradientStatistic {
  /** f(g), traced under jit (consumes g). */
  of: (gradient: np.Array) => np.Array;
  /** The shape of f(g) for a weight of shape `weightShape`. */
  shape: (weightShape: number[]) => number[];
}

/**
 * S_W by weight name (`model.layers.<i>.<module>.weight`), as float64 host arrays.
 * `onSequence` is told after each sequence. Borrows `params`.
 */
export function sumGradientStatistic(
  params: LlamaParams,
  config: LlamaConfig,
  { tokens, samples, seqLen }: CalibrationIds,
  statistic: GradientStatistic,
  onSequence?: (done: number, total: number) => void,
): Map<string, Float64Array> {
  const names = new Set<string>();
  for (let i = 0; i < config.num_hidden_layers; i++) {
    for (const m of BLOCK_LINEARS) names.add(`model.layers.${i}.${m}.weight`);
  }
  const lossAndGrad = makeLossAndGrad(config);
  const accumulate = jit((sums: LlamaParams, grads: LlamaParams) => {
    const next: LlamaParams = {};
    for (const k of Object.keys(sums)) next[k] = sums[k].add(statistic.of(grads[k]));
    return next;
  });
  let sums: LlamaParams = {};
  for (const name of names) {
    sums[name] = np.zeros(statistic.shape(params[name].shape), { dtype: np.float32 });
  }
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
        if (names.has(name)) linear[name] = g;
        else g.dispose();
      }
      sums = accumulate(sums, linear);
      // Reading one element runs both programs now (see the header).
      for (const sum of Object.values(sums)) sum.ref.reshape([-1]).slice([0, 1]).dataSync();
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
    out.set(name, Float64Array.from(sum.dataSync() as Float32Array));
  }
  return out;
}
