/**
 * Text sampling from a decoder: temperature and top-k over the last position's logits.
 * The forward pass is jit-compiled for one fixed window: the context is left-aligned and padded
 * on the right, which the causal mask makes invisible to the position we read.
 */
import { jit, numpy as np } from "@jax-js/jax";
import type { Tokenizer } from "../data/tokenizer.js";
import { Xoshiro128 } from "../engine/rng.js";
import { type LlamaParams, llamaForward } from "../nn/llama.js";
import type { LlamaConfig } from "../nn/llama-config.js";

/** Options of {@link sampleText}: prompt, length, temperature, top-k, seed and context window. */
export interface SampleOptions {
  prompt?: string;
  length: number;
  temperature: number;
  topK: number;
  seed: number;
  /** Context window; default: the model's max_position_embeddings. */
  window?: number;
  /** Called with each token id as soon as it is sampled (to stream the text). */
  onToken?: (id: number) => void;
}

/** Pick a token from logits (temperature 0 = greedy). Small vocabularies: plain JS is fine here. */
export function pickToken(
  logits: Float32Array,
  temperature: number,
  topK: number,
  rng: Xoshiro128,
): number {
  const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]);
  if (temperature === 0) return order[0];
  const kept = topK > 0 ? order.slice(0, topK) : order;
  const max = logits[kept[0]];
  const weights = kept.map((i) => Math.exp((logits[i] - max) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let r = (rng.nextUint32() / 0x100000000) * total;
  for (let k = 0; k < kept.length; k++) {
    r -= weights[k];
    if (r < 0) return kept[k];
  }
  return kept[kept.length - 1];
}

/** Generate `length` tokens after `prompt` (borrows params). */
export function sampleText(
  params: LlamaParams,
  config: LlamaConfig,
  tokenizer: Tokenizer,
  o: SampleOptions,
): string {
  const window = Math.min(
    o.window ?? config.max_position_embeddings,
    config.max_position_embeddings,
  );
  const forward = jit((p: LlamaParams, tokens: np.Array) => llamaForward(p, tokens, config));
  const rng = Xoshiro128.fromSeed(o.seed);
  const context = Array.from(tokenizer.encode(o.prompt ?? ""));
  if (context.length === 0) context.push(0);
  const generated: number[] = [];
  try {
    for (let i = 0; i < o.length; i++) {
      const visible = context.slice(-window);
      const padded = new Int32Array(window);
      padded.set(visible);
      const logits = forward(
        Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.ref])),
        np.array(padded, { dtype: np.int32 }).reshape([1, window]),
      );
      const last = logits.slice(0, visible.length - 1).dataSync() as Float32Array;
      const next = pickToken(last, o.temperature, o.topK, rng);
      context.push(next);
      generated.push(next);
      o.onToken?.(next);
    }
  } finally {
    forward.dispose();
  }
  return tokenizer.decode(Int32Array.from(generated));
}
