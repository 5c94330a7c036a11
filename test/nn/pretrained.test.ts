import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { readSafetensorsHeader, saveSafetensors } from "../../src/io/safetensors.js";
import { initLlama, llamaForward } from "../../src/nn/llama.js";
import { llamaConfig, llamaPreset } from "../../src/nn/llama-config.js";
import { initMlp, mlpConfig } from "../../src/nn/mlp.js";
import { loadModel, saveModel } from "../../src/nn/pretrained.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";

let root: string;
beforeAll(async () => {
  await setup();
  root = await mkdtemp(join(tmpdir(), "rankwise-nn-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The float32 bit patterns of an array (borrows). */
const bits = (a: np.Array) => {
  const data = a.ref.dataSync() as Float32Array;
  return Array.from(new Uint32Array(data.buffer, data.byteOffset, data.length));
};

const sameParams = (a: Record<string, np.Array>, b: Record<string, np.Array>) => {
  expect(Object.keys(b)).toEqual(Object.keys(a));
  for (const name of Object.keys(a)) {
    expect(b[name].dtype).toBe(np.float32);
    expect(b[name].shape).toEqual(a[name].shape);
    expect(bits(b[name])).toEqual(bits(a[name]));
  }
};

test.each([
  ["tied", true],
  ["untied", false],
])("LLaMA (%s) saves as config.json + model.safetensors and loads bit-exactly", async (_, tied) => {
  const config = llamaPreset("tiny", 23, { tie_word_embeddings: tied, rope_theta: 500 });
  const params = initLlama(config, 5);
  const dir = join(root, `llama-${tied}`);
  await saveModel(dir, { config, params });

  const json = JSON.parse(await readFile(join(dir, "config.json"), "utf8"));
  expect(json).toMatchObject({
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    vocab_size: 23,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 4,
    rope_theta: 500,
    tie_word_embeddings: tied,
    torch_dtype: "float32",
    hidden_act: "silu",
  });
  const header = await readSafetensorsHeader(join(dir, "model.safetensors"));
  expect(header.metadata).toEqual({ format: "pt" });
  const names = header.tensors.map((t) => t.name).sort();
  expect(names).toEqual(Object.keys(params).sort());
  expect(names.includes("lm_head.weight")).toBe(!tied);
  expect(header.tensors.every((t) => t.dtype === "F32")).toBe(true);

  const loaded = await loadModel(dir);
  expect(loaded.config).toEqual(config);
  sameParams(params, loaded.params);

  // Saving what was loaded gives the same files, byte for byte.
  const again = join(root, `llama-${tied}-again`);
  await saveModel(again, loaded);
  for (const file of ["config.json", "model.safetensors"]) {
    expect(Buffer.compare(await readFile(join(dir, file)), await readFile(join(again, file)))).toBe(
      0,
    );
  }
  tree.dispose(params);
  tree.dispose(loaded.params);
});

test("a loaded model computes the same logits", async () => {
  const config = llamaPreset("tiny", 13);
  const params = initLlama(config, 9);
  const dir = join(root, "logits");
  await saveModel(dir, { config, params });
  const loaded = await loadModel(dir);
  const tokens = np.array([[1, 2, 3, 12]], { dtype: np.int32 });
  const before = read(llamaForward(params, tokens.ref, config));
  const after = read(llamaForward(loaded.params, tokens, loaded.config as typeof config));
  expect(after).toEqual(before);
});

test("MLP saves and loads with nn.Sequential names", async () => {
  const config = mlpConfig({ sizes: [4, 8, 3], activation: "gelu" });
  const params = initMlp(config, 1);
  const dir = join(root, "mlp");
  await saveModel(dir, { config, params });
  expect(JSON.parse(await readFile(join(dir, "config.json"), "utf8"))).toEqual({
    activation: "gelu",
    model_type: "mlp",
    sizes: [4, 8, 3],
  });
  const loaded = await loadModel(dir);
  expect(loaded.config).toEqual(config);
  sameParams(params, loaded.params);
  tree.dispose(params);
  tree.dispose(loaded.params);
});

test("Hub layouts: tied checkpoint with lm_head, sharded weights, non-float32 dtypes", async () => {
  const config = llamaConfig({
    vocab_size: 7,
    hidden_size: 8,
    intermediate_size: 8,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    tie_word_embeddings: true,
  });
  const params = initLlama(config, 2);
  const dir = join(root, "hub");
  await saveModel(dir, { config, params });
  // Re-write the weights as two shards, one in float64, plus a stray tied lm_head copy.
  const names = Object.keys(params);
  const first = Object.fromEntries(names.slice(0, 4).map((n) => [n, params[n]]));
  const second: Record<string, np.Array> = {
    ...Object.fromEntries(names.slice(4).map((n) => [n, params[n].ref.astype(np.float64)])),
    "lm_head.weight": params["model.embed_tokens.weight"].ref,
  };
  await rm(join(dir, "model.safetensors"));
  await saveSafetensors(join(dir, "model-00001-of-00002.safetensors"), first, { format: "pt" });
  await saveSafetensors(join(dir, "model-00002-of-00002.safetensors"), second, { format: "pt" });
  const weightMap = Object.fromEntries([
    ...Object.keys(first).map((n) => [n, "model-00001-of-00002.safetensors"]),
    ...Object.keys(second).map((n) => [n, "model-00002-of-00002.safetensors"]),
  ]);
  await writeFile(
    join(dir, "model.safetensors.index.json"),
    JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }),
  );
  tree.dispose(second);
  const loaded = await loadModel(dir);
  sameParams(params, loaded.params);
  tree.dispose(params);
  tree.dispose(loaded.params);
});

test("bad folders get one clear error and leak nothing", async () => {
  const before = await liveBuffers();
  await expect(loadModel(join(root, "nowhere"))).rejects.toThrow(/no config.json in/);
  const config = llamaPreset("tiny", 11);
  const params = initLlama(config, 0);
  const dir = join(root, "bad");
  await saveModel(dir, { config, params });
  tree.dispose(params);
  const wrong = { ...JSON.parse(await readFile(join(dir, "config.json"), "utf8")), vocab_size: 12 };
  await writeFile(join(dir, "config.json"), JSON.stringify(wrong));
  await expect(loadModel(dir)).rejects.toThrow(
    /bad: parameter model.embed_tokens.weight has shape \[11,16\], expected \[12,16\]/,
  );
  await writeFile(join(dir, "config.json"), "{");
  await expect(loadModel(dir)).rejects.toThrow(/config.json is not valid JSON/);
  await writeFile(join(dir, "config.json"), JSON.stringify({ model_type: "bert" }));
  await expect(loadModel(dir)).rejects.toThrow(/model_type must be "llama" or "mlp"/);
  expect(await liveBuffers()).toBe(before);
  const model = { config, params: {} };
  await expect(saveModel(join(root, "empty"), model)).rejects.toThrow(/is missing/);
});
