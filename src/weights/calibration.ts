/**
 * Calibration for one-shot pruning (and later GPTQ): sequences drawn from a token stream, and the
 * block-by-block pass that measures each decoder linear layer's input.
 *
 * Sequences: `samples` windows of `seqLen` tokens at starts drawn uniformly from the training
 * part of the stream (the first 1 − valFraction, as data/split.ts cuts it, so `eval` never scores
 * calibration text), with the xoshiro128** generator seeded by `seed` — as Wanda's and SparseGPT's
 * loaders draw random windows from C4 (locuslab/wanda lib/data.py get_c4).
 *
 * Block by block (locuslab/wanda lib/prune.py prune_wanda / prune_sparsegpt): the embeddings of
 * the calibration tokens are the input of block 0; for each block, one forward pass with the
 * block's current weights measures the inputs of all seven of its linear layers, `update`
 * returns the block's new weights, and the block is run again with them to give the next block's
 * input. Only the decoder linear weights `update` returns change; embeddings, norms and the head
 * are never touched. A block's stored residual projection (`model.layers.<i>.inlp_projection`,
 * `edit inlp`) is applied to its output, as llamaForward does.
 *
 * Statistics: Σ x_j² per input feature (Wanda's ‖X_j‖²), Σ x_j and the mean over sequences of
 * each sequence's variance of x_j (DSnoT's), and, when asked, XᵀX (SparseGPT's
 * Hessian up to its factor 2/N), accumulated in float32 with jax-js matmuls, as the reference
 * accumulates in float32. Layers fed the same tensor (q/k/v; gate/up) share one measurement.
 * Sequences run `batch` at a time, which changes nothing but memory (each sequence is
 * independent).
 */
import { numpy as np } from "@jax-js/jax";
import { DEFAULT_VAL_FRACTION, splitTokens } from "../data/split.js";
import { Xoshiro128 } from "../engine/rng.js";
import {
  type CaptureInputs,
  type LlamaParams,
  llamaBlock,
  llamaEmbed,
  RESIDUAL_PROJECTION,
} from "../nn/llama.js";
import { BLOCK_LINEARS, type LlamaConfig } from "../nn/llama-config.js";
import type { InputStats } from "./prune/types.js";

/** How many calibration sequences, how long, from which seed. */
export interface CalibrationSpec {
  samples: number;
  seqLen: number;
  seed: number;
}

/** Defaults for the small models Rankwise trains (the papers use 128 × 2048 on 7B models). */
export const CALIBRATION_DEFAULTS: CalibrationSpec = { samples: 32, seqLen: 128, seed: 0 };

/**
 * `samples` × `seqLen` token ids (row-major) drawn from the training part of `tokens`. Throws a
 * RangeError naming the shortfall when the stream is shorter than one window.
 */
export function calibrationTokens(
  tokens: Int32Array,
  { samples, seqLen, seed }: CalibrationSpec,
  valFraction = DEFAULT_VAL_FRACTION,
): Int32Array {
  const { train } = splitTokens(tokens, { valFraction });
  if (train.length < seqLen) {
    throw new RangeError(
      `the calibration text has ${train.length} training tokens, fewer than one sequence of ${seqLen}`,
    );
  }
  const rng = Xoshiro128.fromSeed(seed);
  const out = new Int32Array(samples * seqLen);
  for (let s = 0; s < samples; s++) {
    const start = rng.below(train.length - seqLen + 1);
    out.set(train.subarray(start, start + seqLen), s * seqLen);
  }
  return out;
}

export { BLOCK_LINEARS } from "../nn/llama-config.js";

/** Layers fed the same tensor as an earlier one in the block (measured once). */
const SAME_INPUT: Record<string, string> = {
  "self_attn.k_proj": "self_attn.q_proj",
  "self_attn.v_proj": "self_attn.q_proj",
  "mlp.up_proj": "mlp.gate_proj",
};

const PARAM_SUFFIXES = [
  ...BLOCK_LINEARS.map((m) => `${m}.weight`),
  "input_layernorm.weight",
  "post_attention_layernorm.weight",
];

/**
 * The block's parameters, borrowed (refs), for llamaBlock to consume; with the stored residual
 * projection (`edit inlp`) when the model has one, so that the next block's inputs are the
 * model's real ones.
 */
function blockParams(params: LlamaParams, i: number): LlamaParams {
  const out: LlamaParams = {};
  for (const s of PARAM_SUFFIXES)
    out[`model.layers.${i}.${s}`] = params[`model.layers.${i}.${s}`].ref;
  const projection = `model.layers.${i}.${RESIDUAL_PROJECTION}`;
  if (params[projection] !== undefined) out[projection] = params[projection].ref;
  return out;
}

/** Options of {@link calibrateBlocks}. */
export interface BlockPassOptions {
  /** Measure XᵀX too (SparseGPT). */
  gram: boolean;
  /** Sequences per forward pass (memory only). Default 8. */
  batch?: number;
  /** Told after each block (progress). */
  onBlock?: (layer: number) => void;
}

/**
 * New weights of block `layer` from its inputs' statistics (keyed by the module name without
 * ".weight", e.g. "model.layers.0.mlp.down_proj"): a record of full parameter names to new
 * arrays (owned by the callee until returned; the old arrays are disposed).
 */
export type BlockUpdate = (
  layer: number,
  stats: Map<string, InputStats>,
) => Record<string, np.Array>;

/**
 * Run the calibration sequences (`tokens`: samples × seqLen ids) block by block through the
 * model, replacing each block's weights with `update`'s before the next block is measured.
 * `params` is updated in place (replaced arrays are disposed); the caller still owns it.
 */
export function calibrateBlocks(
  params: LlamaParams,
  config: LlamaConfig,
  tokens: Int32Array,
  spec: { samples: number; seqLen: number },
  update: BlockUpdate,
  { gram, batch = 8, onBlock }: BlockPassOptions,
): void {
  const { samples, seqLen } = spec;
  if (tokens.length !== samples * seqLen) {
    throw new RangeError(`calibration tokens: expected ${samples}×${seqLen}, got ${tokens.length}`);
  }
  // Hidden states per chunk of sequences: [rows, T, hidden].
  let xs: np.Array[] = [];
  for (let s = 0; s < samples; s += batch) {
    const rows = Math.min(batch, samples - s);
    const ids = np.array(tokens.subarray(s * seqLen, (s + rows) * seqLen), {
      shape: [rows, seqLen],
      dtype: np.int32,
    });
    const table = params["model.embed_tokens.weight"].ref;
    xs.push(llamaEmbed({ "model.embed_tokens.weight": table }, ids, config));
  }
  try {
    for (let i = 0; i < config.num_hidden_layers; i++) {
      const sums = new Map<
        string,
        { sq: np.Array; sum: np.Array; varSum: np.Array; gram?: np.Array }
      >();
      const capture: CaptureInputs = (module, x) => {
        const local = module.slice(`model.layers.${i}.`.length);
        if (local in SAME_INPUT) {
          x.dispose();
          return;
        }
        const sq = np.square(x.ref).sum(0);
        const sum = x.ref.sum(0);
        // Each sequence's variance of every feature over its tokens, summed over sequences.
        const perSeq = x.ref.reshape([-1, seqLen, x.shape[1]]);
        const centered = perSeq.ref.sub(perSeq.mean(1, { keepdims: true }));
        const varSum = np.square(centered).mean(1).sum(0);
        const g = gram ? np.matmul(x.ref.transpose(), x.ref) : undefined;
        x.dispose();
        const prev = sums.get(local);
        sums.set(local, {
          sq: prev ? prev.sq.add(sq) : sq,
          sum: prev ? prev.sum.add(sum) : sum,
          varSum: prev ? prev.varSum.add(varSum) : varSum,
          gram: g && prev?.gram ? prev.gram.add(g) : g,
        });
      };
      for (const x of xs) llamaBlock(blockParams(params, i), x.ref, i, config, capture).dispose();

      const stats = new Map<string, InputStats>();
      const measured = new Map<string, InputStats>();
      for (const [local, s] of sums) {
        measured.set(local, {
          samples,
          tokens: samples * seqLen,
          sqNorm: Float64Array.from(s.sq.dataSync() as Float32Array),
          sum: Float64Array.from(s.sum.dataSync() as Float32Array),
          variance: Float64Array.from(s.varSum.dataSync() as Float32Array, (v) => v / samples),
          gram: s.gram ? Float64Array.from(s.gram.dataSync() as Float32Array) : undefined,
        });
      }
      for (const m of BLOCK_LINEARS) {
        const found = measured.get(SAME_INPUT[m] ?? m);
        if (found) stats.set(`model.layers.${i}.${m}`, found);
      }
      const replaced = update(i, stats);
      for (const [name, array] of Object.entries(replaced)) {
        params[name]?.dispose();
        params[name] = array;
      }
      // The next block's input: this block's output with its new weights.
      const next: np.Array[] = [];
      for (const x of xs) next.push(llamaBlock(blockParams(params, i), x, i, config));
      xs = next;
      onBlock?.(i);
    }
  } finally {
    for (const x of xs) x.dispose();
  }
}
