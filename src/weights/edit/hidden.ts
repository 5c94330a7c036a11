/**
 * The hidden states the editing methods measure, one vector per text, pooled over its tokens:
 *
 *   "residual":  the residual stream after decoder block L (block L's output, the input of L+1)
 *   "down_proj": the output of block L's mlp.down_proj (what the MLP writes into the stream)
 *
 * pooled as the mean over the text's tokens ("mean") or its last token ("last"). Texts run
 * `batch` at a time, right-padded to the longest in the batch: the decoder is causal, so padding
 * after a text never changes its states; the pooling masks it out. Texts longer than the model's
 * context are cut to it. Eager (no jit): each distinct batch length runs once.
 */
import { numpy as np } from "@jax-js/jax";
import { type LlamaParams, llamaBlock, llamaEmbed } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";

/** How a text's hidden states become one vector: their mean, or the last token's. */
export const POOLS = ["mean", "last"] as const;
/** One of {@link POOLS}. */
export type Pool = (typeof POOLS)[number];

/** Block i's parameters (every `model.layers.<i>.` entry), borrowed as new references. */
export function blockParams(params: LlamaParams, i: number): LlamaParams {
  const prefix = `model.layers.${i}.`;
  const out: LlamaParams = {};
  for (const [name, a] of Object.entries(params)) if (name.startsWith(prefix)) out[name] = a.ref;
  return out;
}

/** Options of {@link pooledStates}. */
export interface StateOptions {
  layer: number;
  pool: Pool;
  at: "residual" | "down_proj";
  /** Texts per forward pass (memory only). Default 16. */
  batch?: number;
}

/**
 * One pooled state per text: [texts.length, hidden] in float64, row-major. Borrows `params`.
 * Throws a RangeError for an empty text or a layer outside the model.
 */
export function pooledStates(
  params: LlamaParams,
  config: LlamaConfig,
  texts: Int32Array[],
  { layer, pool, at, batch = 16 }: StateOptions,
): Float64Array {
  const layers = config.num_hidden_layers;
  if (!(Number.isSafeInteger(layer) && layer >= 0 && layer < layers)) {
    throw new RangeError(`layer must be an integer in [0, ${layers - 1}], got ${layer}`);
  }
  const d = config.hidden_size;
  const out = new Float64Array(texts.length * d);
  const maxLen = config.max_position_embeddings;
  for (let start = 0; start < texts.length; start += batch) {
    const group = texts.slice(start, start + batch).map((t) => t.subarray(0, maxLen));
    const lens = group.map((t, i) => {
      if (t.length === 0) throw new RangeError(`text ${start + i + 1} has no tokens`);
      return t.length;
    });
    const b = group.length;
    const t = Math.max(...lens);
    const ids = new Int32Array(b * t);
    const weights = new Float32Array(b * t); // the pooling weight of every position
    group.forEach((text, r) => {
      ids.set(text, r * t);
      const n = text.length;
      if (pool === "mean") weights.fill(1 / n, r * t, r * t + n);
      else weights[r * t + n - 1] = 1;
    });
    const table = params["model.embed_tokens.weight"].ref;
    let x = llamaEmbed(
      { "model.embed_tokens.weight": table },
      np.array(ids, { shape: [b, t], dtype: np.int32 }),
      config,
    );
    for (let i = 0; i < layer; i++) x = llamaBlock(blockParams(params, i), x, i, config);
    let states: np.Array;
    if (at === "residual") {
      states = llamaBlock(blockParams(params, layer), x, layer, config);
    } else {
      let captured: np.Array | undefined;
      const down = `model.layers.${layer}.mlp.down_proj`;
      llamaBlock(blockParams(params, layer), x, layer, config, (module, input) => {
        if (module === down) captured = input;
        else input.dispose();
      }).dispose();
      const w = params[`${down}.weight`].ref;
      states = np.matmul(captured as np.Array, w.transpose()).reshape([b, t, d]);
    }
    const w = np.array(weights, { shape: [b, t, 1], dtype: np.float32 });
    const pooled = states.mul(w).sum(1);
    out.set(Float64Array.from(pooled.dataSync() as Float32Array), start * d);
  }
  return out;
}
