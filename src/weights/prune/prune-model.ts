/**
 * Prune a LLaMA-style model: every decoder linear layer (q/k/v/o, gate/up/down) of every block is
 * replaced by the method's pruned weight; embeddings, norms and the head are left as they are.
 * Calibrated methods go block by block (weights/calibration.ts): a block is measured with the
 * blocks before it already pruned, as the reference code does. Magnitude needs no calibration.
 *
 * Checks (RangeError, one line): sparsity in [0, 1); N:M with 1 ≤ N < M, on a method that defines
 * it, and every layer's input size a multiple of M.
 */
import { numpy as np } from "@jax-js/jax";
import type { LlamaParams } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";
import { BLOCK_LINEARS, calibrateBlocks } from "../calibration.js";
import { type CalibrationIds, sumGradientStatistic } from "../gradient-statistics.js";
import { GBLM_SCALE } from "./gblm.js";
import type { PruneMethod, PruneSettings } from "./types.js";

/** Options of {@link pruneModel}. */
export interface PruneModelOptions extends PruneSettings {
  /** Calibration ids, samples × seqLen row-major (calibrated methods only). */
  calibration?: { tokens: Int32Array; samples: number; seqLen: number };
  /** Sequences per forward pass. */
  batch?: number;
  /** Called after each decoder block is pruned (progress). */
  onBlock?: (layer: number) => void;
}

/** Zeros among the pruned layers' weights, per module and overall. */
export interface PruneSummary {
  method: string;
  sparsity: number;
  nm?: [number, number];
  /** Share of zeros over all decoder linear weights. */
  achieved: number;
  layers: { name: string; shape: number[]; zeros: number }[];
}

/** Validate the settings against the method and the model. Throws RangeError. */
export function checkSettings(
  method: PruneMethod,
  config: LlamaConfig,
  { sparsity, nm }: PruneSettings,
): void {
  if (typeof sparsity !== "number" || !(sparsity >= 0 && sparsity < 1)) {
    throw new RangeError(`sparsity must be a number in [0, 1), got ${sparsity}`);
  }
  if (nm === undefined) return;
  const [n, m] = nm;
  if (!method.nm) throw new RangeError(`${method.name} does not define N:M patterns`);
  if (!Number.isInteger(n) || !Number.isInteger(m) || n < 1 || n >= m) {
    throw new RangeError(`N:M must be integers with 1 ≤ N < M (e.g. 2:4, 4:8), got ${n}:${m}`);
  }
  const q = config.num_attention_heads * config.head_dim;
  for (const [what, size] of [
    ["hidden_size", config.hidden_size],
    ["intermediate_size", config.intermediate_size],
    ["heads × head_dim", q],
  ] as const) {
    if (size % m !== 0) {
      throw new RangeError(
        `N:M ${n}:${m} needs layer inputs in multiples of ${m}; ${what} is ${size}`,
      );
    }
  }
}

/**
 * GBLM's gradient term for every decoder linear weight: √(Σ_s (100·∂L_s/∂W)²) over the
 * calibration sequences, L_s the mean next-token loss of sequence s (tokens 1..T−1 predicted from
 * 0..T−2, as HF's labels = input_ids) at the dense model. Borrows `params`.
 */
function gradientNorms(
  params: LlamaParams,
  config: LlamaConfig,
  calibration: CalibrationIds,
): Map<string, Float64Array> {
  const squares = sumGradientStatistic(params, config, calibration, {
    of: (g) => np.square(g.mul(GBLM_SCALE)),
    shape: (shape) => shape,
  });
  for (const [name, sum] of squares) squares.set(name, sum.map(Math.sqrt));
  return squares;
}

const linearNames = (i: number) => BLOCK_LINEARS.map((m) => `model.layers.${i}.${m}`);

/**
 * The pruned model. Consumes `params` (a new record is returned; untouched entries move into
 * it). Counting zeros reads the pruned weights back once.
 */
export function pruneModel(
  params: LlamaParams,
  config: LlamaConfig,
  method: PruneMethod,
  options: PruneModelOptions,
): { params: LlamaParams; summary: PruneSummary } {
  const out: LlamaParams = { ...params };
  try {
    checkSettings(method, config, options);
    const settings: PruneSettings = {
      sparsity: options.nm ? options.nm[0] / options.nm[1] : options.sparsity,
      nm: options.nm,
    };
    if (method.needs === "none") {
      for (let i = 0; i < config.num_hidden_layers; i++) {
        for (const name of linearNames(i)) {
          const key = `${name}.weight`;
          out[key] = method.prune(out[key], undefined, settings, name);
        }
        options.onBlock?.(i);
      }
    } else {
      const calib = options.calibration;
      if (!calib) throw new RangeError(`${method.name} needs calibration sequences`);
      const gradients = method.gradients ? gradientNorms(out, config, calib) : undefined;
      const modelScores = method.modelScores?.(out, config, calib, options.batch);
      calibrateBlocks(
        out,
        config,
        calib.tokens,
        calib,
        (i, stats) => {
          const updated: Record<string, np.Array> = {};
          for (const name of linearNames(i)) {
            const measured = stats.get(name);
            const gradient = gradients?.get(`${name}.weight`);
            const modelScore = modelScores?.get(`${name}.weight`);
            updated[`${name}.weight`] = method.prune(
              out[`${name}.weight`].ref,
              measured && (gradient || modelScore)
                ? { ...measured, gradient, modelScore }
                : measured,
              settings,
              name,
            );
          }
          return updated;
        },
        { gram: method.needs === "gram", batch: options.batch, onBlock: options.onBlock },
      );
    }
  } catch (error) {
    for (const a of Object.values(out)) a.dispose();
    throw error;
  }
  const layers: PruneSummary["layers"] = [];
  let zeros = 0;
  let total = 0;
  for (let i = 0; i < config.num_hidden_layers; i++) {
    for (const name of linearNames(i)) {
      const w = out[`${name}.weight`];
      const data = w.ref.dataSync() as Float32Array;
      let z = 0;
      for (let k = 0; k < data.length; k++) if (data[k] === 0) z++;
      layers.push({ name, shape: w.shape, zeros: z });
      zeros += z;
      total += data.length;
    }
  }
  const summary: PruneSummary = {
    method: method.name,
    sparsity: options.nm ? options.nm[0] / options.nm[1] : options.sparsity,
    nm: options.nm,
    achieved: total > 0 ? zeros / total : 0,
    layers,
  };
  return { params: out, summary };
}
