/**
 * Factored decoder linear layers (src/nn/low-rank.ts): the forward pass of a model holding
 * factors equals the forward pass of the same model with every factored module made dense
 * (W + B A computed independently here, in float64 on the host), the parameter check names bad
 * factors, and a model folder keeps its factors through save → load.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np, random } from "@jax-js/jax";
import { afterAll, beforeAll, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { checkLlamaParams, initLlama, type LlamaParams, llamaForward } from "../../src/nn/llama.js";
import { llamaPreset } from "../../src/nn/llama-config.js";
import { densifyLowRank, lowRankRanks } from "../../src/nn/low-rank.js";
import { loadModel, saveModel } from "../../src/nn/pretrained.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";

let root: string;
beforeAll(async () => {
  await setup();
  root = await mkdtemp(join(tmpdir(), "rankwise-factored-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const config = llamaPreset("tiny", 13);
/** Float64 copy of an array's data, consuming it. */
const take = (a: np.Array) => {
  const data = read(a);
  a.dispose();
  return data;
};
const P = "model.layers.";

/**
 * The tiny model with layer 0's q_proj and layer 1's down_proj replaced by factors only, and
 * layer 0's gate_proj given factors beside its dense weight (LQER's layout).
 */
function factoredModel(): LlamaParams {
  const params = initLlama(config, 3);
  const keys = random.split(random.key(9), 6);
  const factor = (i: number, shape: number[]) => random.normal(keys.ref.slice(i), shape).mul(0.3);
  const [d, f] = [config.hidden_size, config.intermediate_size];
  const q = config.num_attention_heads * config.head_dim;
  params[`${P}0.self_attn.q_proj.weight`].dispose();
  delete params[`${P}0.self_attn.q_proj.weight`];
  params[`${P}0.self_attn.q_proj.lowrank_a.weight`] = factor(0, [4, d]);
  params[`${P}0.self_attn.q_proj.lowrank_b.weight`] = factor(1, [q, 4]);
  params[`${P}1.mlp.down_proj.weight`].dispose();
  delete params[`${P}1.mlp.down_proj.weight`];
  params[`${P}1.mlp.down_proj.lowrank_a.weight`] = factor(2, [5, f]);
  params[`${P}1.mlp.down_proj.lowrank_b.weight`] = factor(3, [d, 5]);
  params[`${P}0.mlp.gate_proj.lowrank_a.weight`] = factor(4, [2, d]);
  params[`${P}0.mlp.gate_proj.lowrank_b.weight`] = factor(5, [f, 2]);
  keys.dispose();
  return params;
}

/** W + B A on the host in float64 (W absent: B A), as a float32 array. Borrows. */
function hostDense(w: np.Array | undefined, a: np.Array, b: np.Array): np.Array {
  const [r, inp] = a.shape;
  const out = b.shape[0];
  const [av, bv] = [read(a), read(b)];
  const wv = w ? read(w) : new Float64Array(out * inp);
  const dense = new Float32Array(out * inp);
  for (let i = 0; i < out; i++) {
    for (let j = 0; j < inp; j++) {
      let s = wv[i * inp + j];
      for (let t = 0; t < r; t++) s += bv[i * r + t] * av[t * inp + j];
      dense[i * inp + j] = s;
    }
  }
  return np.array(dense, { shape: [out, inp] });
}

test("factored forward equals the dense forward of W + B A (1e-5), and leaks nothing", async () => {
  const before = await liveBuffers();
  const params = factoredModel();
  expect(lowRankRanks(params)).toEqual({
    [`${P}0.self_attn.q_proj`]: 4, // a multiple of 4 and two others: both matmul orders
    [`${P}0.mlp.gate_proj`]: 2,
    [`${P}1.mlp.down_proj`]: 5,
  });
  const dense: LlamaParams = {};
  for (const [name, a] of Object.entries(params)) {
    if (!name.includes("lowrank")) dense[name] = a.ref;
  }
  for (const [module, _] of Object.entries(lowRankRanks(params))) {
    const w = params[`${module}.weight`];
    dense[`${module}.weight`]?.dispose();
    dense[`${module}.weight`] = hostDense(
      w,
      params[`${module}.lowrank_a.weight`],
      params[`${module}.lowrank_b.weight`],
    );
  }
  const ids = np.array(
    Int32Array.from({ length: 24 }, (_, i) => (i * 5) % 13),
    {
      shape: [2, 12],
      dtype: np.int32,
    },
  );
  const got = take(llamaForward(tree.ref(params), ids.ref, config));
  const want = take(llamaForward(dense, ids.ref, config));
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < want.length; i++)
    expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-5 * scale);
  // densifyLowRank gives the same dense model.
  const densified = densifyLowRank(tree.ref(params));
  expect(Object.keys(densified).some((k) => k.includes("lowrank"))).toBe(false);
  const again = take(llamaForward(densified, ids, config));
  for (let i = 0; i < want.length; i++)
    expect(Math.abs(again[i] - want[i])).toBeLessThan(1e-5 * scale);
  tree.dispose(params);
  expect(await liveBuffers()).toBe(before);
});

test("the parameter check names a lone factor and factors of the wrong shape", () => {
  const params = factoredModel();
  const a = params[`${P}1.mlp.down_proj.lowrank_a.weight`];
  delete params[`${P}1.mlp.down_proj.lowrank_a.weight`];
  expect(() => checkLlamaParams(params, config)).toThrow(
    /model\.layers\.1\.mlp\.down_proj\.lowrank_a\.weight is missing/,
  );
  params[`${P}1.mlp.down_proj.lowrank_a.weight`] = a.ref.slice([], [0, 8]);
  expect(() => checkLlamaParams(params, config)).toThrow(
    /factors of model\.layers\.1\.mlp\.down_proj have shapes A \[5,8\], B \[16,5\]; expected A \[r, 32\], B \[16, r\]/,
  );
  params[`${P}1.mlp.down_proj.lowrank_a.weight`].dispose();
  params[`${P}1.mlp.down_proj.lowrank_a.weight`] = a;
  expect(() => checkLlamaParams(params, config)).not.toThrow();
  params["model.norm.lowrank_a.weight"] = np.zeros([1, 16]);
  expect(() => checkLlamaParams(params, config)).toThrow(
    /unexpected parameter model\.norm\.lowrank_a/,
  );
  tree.dispose(params);
});

test("save → load keeps the factors bit-exactly and records the ranks in config.json", async () => {
  const params = factoredModel();
  const dir = join(root, "factored");
  await saveModel(dir, { config, params });
  const json = JSON.parse(await readFile(join(dir, "config.json"), "utf8"));
  expect(json.rankwise_low_rank).toEqual(lowRankRanks(params));
  const loaded = await loadModel(dir);
  expect(Object.keys(loaded.params).sort()).toEqual(Object.keys(params).sort());
  for (const [name, a] of Object.entries(params)) {
    expect(Array.from(read(loaded.params[name]))).toEqual(Array.from(read(a)));
  }
  tree.dispose([params, loaded.params]);
  // A config.json whose record disagrees with the tensors is refused, naming both.
  json.rankwise_low_rank[`${P}0.mlp.gate_proj`] = 4;
  await writeFile(join(dir, "config.json"), JSON.stringify(json));
  const before = await liveBuffers();
  await expect(loadModel(dir)).rejects.toThrow(/rankwise_low_rank .* does not match the factors/);
  expect(await liveBuffers()).toBe(before);
});
