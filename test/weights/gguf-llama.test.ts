/**
 * GGUF export checked by llama.cpp itself (node-llama-cpp's CPU prebuilt, no GPU, never built
 * from source): a random LLaMA model with large weights (so its next-token choices are clear
 * margins, not float noise) is exported and loaded by llama.cpp, and
 *
 * - f32: llama.cpp's tokenization of a prompt equals Rankwise's, and its greedy continuation
 *   equals Rankwise's (sampleText, temperature 0); llama.cpp's next-token log-probabilities of a
 *   text equal Rankwise's (forward + log-softmax) to 1e-4 — the q/k rotary permutation, names,
 *   shapes and metadata are all exercised by this;
 * - q8_0: the perplexity of that text is within 1% of Rankwise's float32 one;
 * - q4_0: it loads, its perplexity is within 15% of float32 (4-bit blocks of 32 on random
 *   weights) and within 1% of Rankwise's on the same weights decoded from Q4_0 by ggml's rule;
 * - char tokenizer with multi-byte characters, tied embeddings, head_dim ≠ hidden/heads: the
 *   tokenization, detokenization and log-probabilities agree.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import {
  type ControlledEvaluateInputItem,
  getLlama,
  type Llama,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { HfTokenizer } from "../../src/data/hf-tokenizer.js";
import { ByteTokenizer, CharTokenizer, type Tokenizer } from "../../src/data/tokenizer.js";
import { BYTE_CHARS } from "../../src/data/tokenizer-hf-json.js";
import * as tree from "../../src/engine/tree.js";
import { initLlama, type LlamaParams, llamaForward } from "../../src/nn/llama.js";
import { type LlamaConfig, llamaConfig } from "../../src/nn/llama-config.js";
import { sampleText } from "../../src/train/generate.js";
import { type ExportType, exportGguf, toQ4_0 } from "../../src/weights/export/index.js";
import { setup } from "../helpers/engine.js";

const dir = mkdtempSync(join(tmpdir(), "rankwise-gguf-"));
let llama: Llama;
const loaded: LlamaModel[] = [];

const byteConfig = llamaConfig({
  vocab_size: 256,
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
  initializer_range: 0.15,
  rope_theta: 500,
});
let byteParams: LlamaParams;
const bytes = new ByteTokenizer();

beforeAll(async () => {
  await setup();
  llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
  byteParams = initLlama(byteConfig, 11);
});

afterAll(async () => {
  for (const m of loaded) await m.dispose();
  if (byteParams) tree.dispose(byteParams);
});

async function exported(
  params: LlamaParams,
  config: LlamaConfig,
  tokenizer: Tokenizer,
  type: ExportType,
): Promise<LlamaModel> {
  const path = join(dir, `${tokenizer.type}-${type}.gguf`);
  await exportGguf({ params, config, tokenizer }, type, path);
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  loaded.push(model);
  return model;
}

/** llama.cpp's CPU flash attention and default KV cache are f16: off and f32 here, so an f32
 *  model runs in f32 throughout. */
const CONTEXT = {
  contextSize: 64,
  flashAttention: false,
  experimentalKvCacheKeyType: "F32",
  experimentalKvCacheValueType: "F32",
} as const;

/** llama.cpp's greedy continuation of `prompt`: `length` token ids. */
async function llamaGreedy(model: LlamaModel, prompt: number[], length: number) {
  const context = await model.createContext(CONTEXT);
  try {
    const out: number[] = [];
    for await (const token of context
      .getSequence()
      .evaluate(prompt as Token[], { temperature: 0 })) {
      out.push(token);
      if (out.length === length) break;
    }
    return out;
  } finally {
    await context.dispose();
  }
}

/** llama.cpp's log-probability of each next token of `ids` (ids.length - 1 values). */
async function llamaLogProbs(model: LlamaModel, ids: number[]): Promise<number[]> {
  const context = await model.createContext(CONTEXT);
  try {
    const input = ids.map(
      (id, i) =>
        (i < ids.length - 1
          ? [id as Token, { generateNext: { probabilities: true } }]
          : (id as Token)) as ControlledEvaluateInputItem,
    );
    const out = await context.getSequence().controlledEvaluate(input);
    return ids.slice(1).map((next, i) => Math.log(out[i]!.next.probabilities!.get(next as Token)!));
  } finally {
    await context.dispose();
  }
}

/** Rankwise's log-probability of each next token of `ids` (forward + log-softmax on the host). */
function rankwiseLogProbs(params: LlamaParams, config: LlamaConfig, ids: number[]): number[] {
  const T = ids.length;
  const logits = llamaForward(
    tree.ref(params),
    np.array(Int32Array.from(ids), { dtype: np.int32 }).reshape([1, T]),
    config,
  ).dataSync() as Float32Array;
  const V = config.vocab_size;
  const out: number[] = [];
  for (let t = 0; t < T - 1; t++) {
    const row = logits.subarray(t * V, (t + 1) * V);
    const max = row.reduce((a, b) => Math.max(a, b), -Infinity);
    const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
    out.push(row[ids[t + 1]!]! - lse);
  }
  return out;
}

/** Rankwise's greedy continuation (sampleText, temperature 0): the token ids. */
function greedy(
  params: LlamaParams,
  config: LlamaConfig,
  tokenizer: Tokenizer,
  prompt: string,
  length: number,
): number[] {
  const ids: number[] = [];
  sampleText(params, config, tokenizer, {
    prompt,
    length,
    temperature: 0,
    topK: 0,
    seed: 0,
    onToken: (id) => ids.push(id),
  });
  return ids;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const TEXT = "The whale, the whale! Großes Meer — 42 ships sailed.";

describe("GGUF export read by llama.cpp (byte tokenizer, untied)", () => {
  test("f32: same tokens, same greedy continuation, same log-probabilities", async () => {
    const model = await exported(byteParams, byteConfig, bytes, "f32");
    const prompt = "Call me Ishmaël. ";
    const ids = Array.from(bytes.encode(prompt));
    expect(model.tokenize(prompt)).toEqual(ids);

    const length = 24;
    const ours = greedy(byteParams, byteConfig, bytes, prompt, length);
    const theirs = await llamaGreedy(model, ids, length);
    expect(theirs).toEqual(ours);
    expect(new Set(theirs).size).toBeGreaterThan(3); // a real continuation, not one repeated id

    const textIds = Array.from(bytes.encode(TEXT));
    const ref = rankwiseLogProbs(byteParams, byteConfig, textIds);
    const got = await llamaLogProbs(model, textIds);
    const worst = Math.max(...ref.map((r, i) => Math.abs(got[i]! - r)));
    expect(worst).toBeLessThan(1e-4);
  });

  test("q8_0: perplexity within 1% of float32; q4_0: loads, within 15%", async () => {
    const textIds = Array.from(bytes.encode(TEXT));
    const ref = Math.exp(-mean(rankwiseLogProbs(byteParams, byteConfig, textIds)));
    const q8 = Math.exp(
      -mean(await llamaLogProbs(await exported(byteParams, byteConfig, bytes, "q8_0"), textIds)),
    );
    const q4 = Math.exp(
      -mean(await llamaLogProbs(await exported(byteParams, byteConfig, bytes, "q4_0"), textIds)),
    );
    expect(Math.abs(q8 / ref - 1)).toBeLessThan(0.01);
    expect(q8).not.toBe(ref); // the weights really are quantised
    expect(Math.abs(q4 / ref - 1)).toBeLessThan(0.15);

    // llama.cpp runs the q4_0 file as Rankwise runs the same weights decoded by ggml's rule
    // ((nibble - 8)·d, decoded here): what is lost is the quantisation, not the layout. The rest
    // is llama.cpp rounding activations to 8 bits for its quantised matmuls.
    const decoded = dequantizedQ4(byteParams);
    try {
      const same = Math.exp(-mean(rankwiseLogProbs(decoded, byteConfig, textIds)));
      expect(Math.abs(q4 / same - 1)).toBeLessThan(0.01);
    } finally {
      tree.dispose(decoded);
    }
  });
});

/** Each matrix through Q4_0 and back ((nibble - 8)·d per block of 32), decoded here. */
function dequantizedQ4(params: LlamaParams): LlamaParams {
  const out: LlamaParams = {};
  for (const [name, array] of Object.entries(params)) {
    const values = array.ref.dataSync() as Float32Array;
    if (array.shape.length === 1) {
      out[name] = np.array(values).reshape(array.shape);
      continue;
    }
    const blocks = toQ4_0(values);
    const view = new DataView(blocks.buffer, blocks.byteOffset, blocks.byteLength);
    const back = new Float32Array(values.length);
    for (let b = 0; b < values.length / 32; b++) {
      const d = f16ToNumber(view.getUint16(b * 18, true));
      for (let j = 0; j < 16; j++) {
        const byte = view.getUint8(b * 18 + 2 + j);
        back[b * 32 + j] = ((byte & 0xf) - 8) * d;
        back[b * 32 + 16 + j] = ((byte >> 4) - 8) * d;
      }
    }
    out[name] = np.array(back).reshape(array.shape);
  }
  return out;
}

const f16ToNumber = (bits: number) => {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const mant = bits & 0x3ff;
  return exp === 0 ? sign * mant * 2 ** -24 : sign * (1 + mant / 1024) * 2 ** (exp - 15);
};

describe("GGUF export read by llama.cpp (char tokenizer, tied, head_dim 24)", () => {
  test("multi-byte characters tokenise and detokenise as Rankwise's; same log-probabilities", async () => {
    const tokenizer = CharTokenizer.fromText("abcdefgh ijklmnop.,é€😀\n");
    const config = llamaConfig({
      vocab_size: tokenizer.vocabSize + 3, // padded rows: unused tokens
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      head_dim: 24,
      max_position_embeddings: 64,
      initializer_range: 0.5,
      tie_word_embeddings: true,
    });
    const params = initLlama(config, 3);
    try {
      const model = await exported(params, config, tokenizer, "f32");
      const prompt = "café € 😀 abc.\nhij";
      const ids = Array.from(tokenizer.encode(prompt));
      expect(model.tokenize(prompt)).toEqual(ids);
      expect(model.detokenize(ids as Token[])).toBe(prompt);
      // Padded rows (ids past the vocabulary) are still scored: compare log-probabilities.
      const ref = rankwiseLogProbs(params, config, ids);
      const got = await llamaLogProbs(model, ids);
      const worst = Math.max(...ref.map((r, i) => Math.abs(got[i]! - r)));
      expect(worst).toBeLessThan(1e-4);
    } finally {
      tree.dispose(params);
    }
  });
});

describe("GGUF export read by llama.cpp (Hugging Face byte-level BPE with merges)", () => {
  test("llama.cpp's gpt2 vocabulary tokenizes as @huggingface/tokenizers; EOS from the config", async () => {
    const vocab: Record<string, number> = Object.fromEntries(BYTE_CHARS.map((ch, b) => [ch, b]));
    const merges = ["Ġ t", "h e", "Ġt he", "w h", "Ġ wh", "a l", "Ġwh al"];
    for (const m of merges) vocab[m.replace(" ", "")] = Object.keys(vocab).length;
    const eos = Object.keys(vocab).length;
    const byteLevel = {
      type: "ByteLevel",
      add_prefix_space: false,
      trim_offsets: true,
      use_regex: true,
    };
    const tokenizer = new HfTokenizer(
      {
        version: "1.0",
        added_tokens: [
          {
            id: eos,
            content: "<|endoftext|>",
            special: true,
            single_word: false,
            lstrip: false,
            rstrip: false,
            normalized: false,
          },
        ],
        normalizer: null,
        pre_tokenizer: byteLevel,
        post_processor: null,
        decoder: byteLevel,
        model: {
          type: "BPE",
          vocab,
          merges,
          dropout: null,
          unk_token: null,
          fuse_unk: false,
          byte_fallback: false,
        },
      },
      { eos_token: "<|endoftext|>" },
    );
    const config = llamaConfig({
      vocab_size: eos + 1,
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      max_position_embeddings: 64,
      initializer_range: 0.3,
    });
    const params = initLlama(config, 9);
    try {
      const model = await exported(params, config, tokenizer, "f32");
      const text = "the whale, the wheel: 42 whales thé!\n";
      const ids = Array.from(tokenizer.encode(text));
      expect(ids).toContain(vocab.Ġthe); // merges really apply
      expect(ids).toContain(vocab.Ġwhal);
      expect(model.tokenize(text)).toEqual(ids);
      expect(model.detokenize(ids as Token[])).toBe(text);
      expect(model.tokens.eos).toBe(eos);
      const ref = rankwiseLogProbs(params, config, ids);
      const got = await llamaLogProbs(model, ids);
      expect(Math.max(...ref.map((r, i) => Math.abs(got[i]! - r)))).toBeLessThan(1e-4);
    } finally {
      tree.dispose(params);
    }
  });

  test("other Hugging Face tokenizers are refused with one line naming what differs", async () => {
    const tokenizer = new HfTokenizer({
      model: { type: "BPE", vocab: { a: 0, b: 1 }, merges: [], byte_fallback: true },
      pre_tokenizer: { type: "Metaspace", replacement: "▁", prepend_scheme: "always" },
      decoder: null,
      normalizer: null,
      post_processor: null,
      added_tokens: [],
    });
    const config = llamaConfig({
      vocab_size: 2,
      hidden_size: 32,
      intermediate_size: 32,
      num_hidden_layers: 1,
      num_attention_heads: 1,
    });
    const params = initLlama(config, 1);
    try {
      await expect(
        exportGguf({ params, config, tokenizer }, "f32", join(dir, "refused.gguf")),
      ).rejects.toThrow(/GPT-2-style byte-level BPE only; this tokenizer.json has byte_fallback/);
    } finally {
      tree.dispose(params);
    }
  });
});
