import { numpy as np } from "@jax-js/jax";
import { beforeAll, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { initLlama, llamaForward, llamaParamCount, llamaParamShapes } from "../../src/nn/llama.js";
import {
  fromHfConfig,
  LLAMA_PRESETS,
  llamaConfig,
  llamaPreset,
  toHfConfig,
} from "../../src/nn/llama-config.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";

beforeAll(setup);

const base = {
  vocab_size: 11,
  hidden_size: 8,
  intermediate_size: 12,
  num_hidden_layers: 1,
  num_attention_heads: 2,
};

test("HF defaults fill missing fields; toHfConfig/fromHfConfig round trip", () => {
  const config = llamaConfig(base);
  expect(config).toMatchObject({
    num_key_value_heads: 2,
    head_dim: 4,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: false,
    max_position_embeddings: 2048,
    initializer_range: 0.02,
  });
  const hf = toHfConfig(config);
  expect(hf).toMatchObject({
    model_type: "llama",
    architectures: ["LlamaForCausalLM"],
    hidden_act: "silu",
    torch_dtype: "float32",
    rope_scaling: null,
  });
  expect(fromHfConfig(JSON.parse(JSON.stringify(hf)))).toEqual(config);
});

test("reads a Hub-style config.json (extra fields ignored, no num_key_value_heads)", () => {
  const hub = {
    ...base,
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: "bfloat16",
    transformers_version: "4.40.0",
    rms_norm_eps: 1e-5,
    tie_word_embeddings: true,
  };
  const config = fromHfConfig(hub);
  expect(config.num_key_value_heads).toBe(2);
  expect(config.rms_norm_eps).toBe(1e-5);
  expect(config.tie_word_embeddings).toBe(true);
});

test("bad config.json fields are named", () => {
  const hf = toHfConfig(llamaConfig(base));
  expect(() => fromHfConfig({ ...hf, model_type: "gpt2" })).toThrow(/model_type must be "llama"/);
  expect(() => fromHfConfig({ ...hf, rope_scaling: { type: "linear", factor: 2 } })).toThrow(
    /rope_scaling/,
  );
  expect(() => fromHfConfig({ ...hf, hidden_act: "gelu" })).toThrow(/hidden_act/);
  expect(() => fromHfConfig({ ...hf, attention_bias: true })).toThrow(/attention_bias/);
  expect(() => fromHfConfig({ ...hf, num_key_value_heads: 3 })).toThrow(
    /config.json: num_key_value_heads must divide/,
  );
  expect(() => fromHfConfig({ ...hf, hidden_size: "8" })).toThrow(TypeError);
  const { vocab_size: _, ...noVocab } = hf;
  expect(() => fromHfConfig(noVocab)).toThrow(/vocab_size is missing/);
  expect(() => fromHfConfig([])).toThrow(/JSON object/);
  expect(() => llamaConfig({ ...base, hidden_size: 9 })).toThrow(/multiple of num_attention_heads/);
  expect(() => llamaPreset("huge" as any, 10)).toThrow(/preset must be one of tiny, small/);
});

test("parameter names, shapes and counts follow LlamaForCausalLM", () => {
  const config = llamaConfig({ ...base, num_key_value_heads: 1 });
  const shapes = llamaParamShapes(config);
  expect(shapes).toEqual({
    "model.embed_tokens.weight": [11, 8],
    "model.layers.0.self_attn.q_proj.weight": [8, 8],
    "model.layers.0.self_attn.k_proj.weight": [4, 8],
    "model.layers.0.self_attn.v_proj.weight": [4, 8],
    "model.layers.0.self_attn.o_proj.weight": [8, 8],
    "model.layers.0.mlp.gate_proj.weight": [12, 8],
    "model.layers.0.mlp.up_proj.weight": [12, 8],
    "model.layers.0.mlp.down_proj.weight": [8, 12],
    "model.layers.0.input_layernorm.weight": [8],
    "model.layers.0.post_attention_layernorm.weight": [8],
    "model.norm.weight": [8],
    "lm_head.weight": [11, 8],
  });
  expect(llamaParamCount(config)).toBe(88 + 64 + 32 + 32 + 64 + 3 * 96 + 24 + 88);
  const tied = llamaConfig({ ...base, tie_word_embeddings: true });
  expect("lm_head.weight" in llamaParamShapes(tied)).toBe(false);
});

test("presets grow from tiny to medium", () => {
  const counts = LLAMA_PRESETS.map((name) => llamaParamCount(llamaPreset(name, 65)));
  expect(counts[0]).toBeLessThan(10_000);
  expect(counts[1]).toBeGreaterThan(150_000);
  expect(counts[1]).toBeLessThan(500_000);
  expect(counts[2]).toBeGreaterThan(500_000);
  expect(counts[2]).toBeLessThan(1_500_000);
  expect(counts[3]).toBeGreaterThan(3_000_000);
  expect(counts[3]).toBeLessThan(5_000_000);
  expect(llamaPreset("tiny", 65, { tie_word_embeddings: false }).tie_word_embeddings).toBe(false);
  expect(llamaPreset("small", 300).vocab_size).toBe(300);
});

test("init: normal(0, initializer_range) weights, unit norms, seeded", () => {
  const config = llamaConfig({ ...base, hidden_size: 64, intermediate_size: 96, vocab_size: 50 });
  const a = initLlama(config, 3);
  const b = initLlama(config, 3);
  const c = initLlama(config, 4);
  expect(Object.keys(a)).toEqual(Object.keys(llamaParamShapes(config)));
  const w = read(a["model.layers.0.mlp.gate_proj.weight"]);
  const mean = w.reduce((s, x) => s + x, 0) / w.length;
  const std = Math.sqrt(w.reduce((s, x) => s + (x - mean) ** 2, 0) / w.length);
  expect(Math.abs(mean)).toBeLessThan(0.002); // 6144 draws: standard error 0.00026
  expect(std).toBeGreaterThan(0.019);
  expect(std).toBeLessThan(0.021);
  expect([...read(a["model.norm.weight"])]).toEqual(new Array(64).fill(1));
  expect(read(a["lm_head.weight"])).toEqual(read(b["lm_head.weight"]));
  expect(read(a["lm_head.weight"])).not.toEqual(read(c["lm_head.weight"]));
  expect(read(a["model.layers.0.self_attn.q_proj.weight"])).not.toEqual(
    read(a["model.layers.0.self_attn.k_proj.weight"]),
  );
  for (const p of [a, b, c]) tree.dispose(p);
});

test("forward rejects wrong parameters, tokens and too-long sequences, and still consumes them", async () => {
  const before = await liveBuffers();
  const config = llamaConfig({ ...base, tie_word_embeddings: true, max_position_embeddings: 4 });
  const params = initLlama(config, 0);
  for (const p of Object.values(params)) p.ref.dataSync(); // realise, so that a leak would count
  const ids = (t: number) => np.array([[...Array(t).keys()]], { dtype: np.int32 });
  const run =
    (p: Record<string, np.Array>, tokens = ids(3)) =>
    () =>
      llamaForward(p, tokens, config);
  expect(run({ ...tree.ref(params), "lm_head.weight": np.zeros([11, 8]) })).toThrow(
    /unexpected parameter lm_head.weight \(tie_word_embeddings is true\)/,
  );
  const missing = Object.fromEntries(
    Object.entries(params)
      .filter(([name]) => name !== "model.norm.weight")
      .map(([name, p]) => [name, p.ref]),
  );
  expect(run(missing)).toThrow(/model.norm.weight is missing/);
  expect(run(tree.ref(params), ids(5))).toThrow(/max_position_embeddings/);
  expect(run(tree.ref(params), np.array([[0, 1, 2]]))).toThrow(/int32 token ids/);
  const logits = llamaForward(params, np.zeros([2, 4], { dtype: np.int32 }), config);
  expect(logits.shape).toEqual([2, 4, 11]);
  logits.dispose();
  expect(await liveBuffers()).toBe(before);
});
