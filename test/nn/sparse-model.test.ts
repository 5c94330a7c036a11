/**
 * SLTrain as a model option (src/nn/sparse-model.ts): under jit(valueAndGrad), the loss and the
 * gradients of B, A and the sparse values equal the closed form from a dense model with
 * W = (α/r)·B A + S built in float64 on the host (∂B = (α/r)·G Aᵀ, ∂A = (α/r)·Bᵀ G, ∂v = G at the
 * support, G the dense model's ∂W); densifySparse gives the same logits; the support is the
 * recorded law's (distinct, ascending, ⌊δ·out·in⌋, reproducible); bad layouts are named; a model
 * folder keeps the SLTrain record and values through save → load, and the openers that need
 * dense weights (openModel for export, prune, quantize, finetune; merge's tensor-by-tensor
 * source) give densifySparse's weights without the record.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jit, numpy as np, valueAndGrad } from "@jax-js/jax";
import { afterAll, beforeAll, expect, test } from "vitest";
import { Xoshiro128 } from "../../src/engine/rng.js";
import * as tree from "../../src/engine/tree.js";
import {
  checkLlamaParams,
  initLlama,
  type LlamaParams,
  llamaForward,
  llamaLoss,
} from "../../src/nn/llama.js";
import { llamaPreset } from "../../src/nn/llama-config.js";
import { openModel } from "../../src/nn/open-model.js";
import { loadModel, saveModel } from "../../src/nn/pretrained.js";
import {
  densifySparse,
  SPARSE_VALUES,
  sparseSupport,
  withoutSltrain,
  withSltrain,
} from "../../src/nn/sparse-model.js";
import { openFolderSource } from "../../src/weights/merge/source-folder.js";
import { closeness, liveBuffers, read, setup } from "../helpers/engine.js";

let root: string;
beforeAll(async () => {
  await setup();
  root = await mkdtemp(join(tmpdir(), "rankwise-sparse-model-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const sl = { rank: 3, alpha: 6, density: 0.15, seed: 11 };
const config = llamaPreset("tiny", 13, { rankwise_sltrain: sl });
const SUBS = ["q", "k", "v", "o"].map((x) => `self_attn.${x}_proj`);
SUBS.push(...["gate", "up", "down"].map((x) => `mlp.${x}_proj`));
const MODULES = [0, 1].flatMap((i) => SUBS.map((s) => `model.layers.${i}.${s}`));

/** The fresh SLTrain model with B made non-zero (so every gradient is), from a host PRNG. */
function model(): LlamaParams {
  const params = withSltrain(initLlama(config, 3), config);
  const gen = Xoshiro128.fromSeed(99);
  for (const m of MODULES) {
    const name = `${m}.lowrank_b.weight`;
    const shape = params[name].shape;
    params[name].dispose();
    const n = shape[0] * shape[1];
    params[name] = np.array(
      Float32Array.from({ length: n }, () => (gen.nextUint32() / 2 ** 32 - 0.5) * 0.6),
      { shape },
    );
  }
  return params;
}

const tokens = () => ({
  inputs: np.array(Int32Array.from({ length: 24 }, (_, i) => (i * 7 + 2) % 13)).reshape([2, 12]),
  targets: np.array(Int32Array.from({ length: 24 }, (_, i) => (i * 5 + 1) % 13)).reshape([2, 12]),
});

/** W = (α/r)·B A + S in float64 on the host, S scattered from v at the module's support. */
function hostWeight(m: string, p: LlamaParams): { w: Float64Array; support: Int32Array } {
  const a = read(p[`${m}.lowrank_a.weight`]);
  const b = read(p[`${m}.lowrank_b.weight`]);
  const v = read(p[`${m}.${SPARSE_VALUES}`]);
  const [out, r] = p[`${m}.lowrank_b.weight`].shape;
  const inp = p[`${m}.lowrank_a.weight`].shape[1];
  const w = new Float64Array(out * inp);
  for (let i = 0; i < out; i++)
    for (let j = 0; j < inp; j++) {
      let s = 0;
      for (let t = 0; t < r; t++) s += b[i * r + t] * a[t * inp + j];
      w[i * inp + j] = (sl.alpha / sl.rank) * s;
    }
  const support = sparseSupport(sl, m, out, inp);
  support.forEach((at, k) => {
    w[at] += v[k];
  });
  return { w, support };
}

const expectClose = (got: ArrayLike<number>, want: ArrayLike<number>, what: string) => {
  const { ratio, index } = closeness(got, want, 1e-4, 1e-6);
  expect(ratio, `${what} at ${index}`).toBeLessThanOrEqual(1);
};

test("loss and gradients of B, A and v equal the dense model's closed form (jit)", async () => {
  const before = await liveBuffers();
  const params = model();
  const dense: LlamaParams = {};
  const hosts = new Map(MODULES.map((m) => [m, hostWeight(m, params)]));
  for (const [name, p] of Object.entries(params)) {
    const m = MODULES.find((x) => name.startsWith(`${x}.`));
    if (m === undefined) dense[name] = p.ref;
    else if (name.endsWith(SPARSE_VALUES)) {
      const shape = [
        params[`${m}.lowrank_b.weight`].shape[0],
        params[`${m}.lowrank_a.weight`].shape[1],
      ];
      dense[`${m}.weight`] = np.array(Float32Array.from(hosts.get(m)!.w), { shape });
    }
  }
  const denseConfig = withoutSltrain(config);
  const sparseFn = jit(
    valueAndGrad((p: LlamaParams, x: np.Array, y: np.Array) => llamaLoss(p, x, y, config)),
  );
  const denseFn = jit(
    valueAndGrad((p: LlamaParams, x: np.Array, y: np.Array) => llamaLoss(p, x, y, denseConfig)),
  );
  const t1 = tokens();
  const [loss, grads] = sparseFn(tree.ref(params), t1.inputs, t1.targets) as [
    np.Array,
    LlamaParams,
  ];
  const t2 = tokens();
  const [denseLoss, denseGrads] = denseFn(dense, t2.inputs, t2.targets) as [np.Array, LlamaParams];
  expectClose(read(loss), read(denseLoss), "loss");
  const scale = sl.alpha / sl.rank;
  for (const m of MODULES) {
    const g = read(denseGrads[`${m}.weight`]);
    const a = read(params[`${m}.lowrank_a.weight`]);
    const b = read(params[`${m}.lowrank_b.weight`]);
    const [out, r] = params[`${m}.lowrank_b.weight`].shape;
    const inp = params[`${m}.lowrank_a.weight`].shape[1];
    const gb = new Float64Array(out * r);
    const ga = new Float64Array(r * inp);
    for (let i = 0; i < out; i++)
      for (let j = 0; j < inp; j++)
        for (let t = 0; t < r; t++) {
          gb[i * r + t] += scale * g[i * inp + j] * a[t * inp + j];
          ga[t * inp + j] += scale * b[i * r + t] * g[i * inp + j];
        }
    const gv = Array.from(hosts.get(m)!.support, (at) => g[at]);
    expectClose(read(grads[`${m}.lowrank_b.weight`]), gb, `∂B of ${m}`);
    expectClose(read(grads[`${m}.lowrank_a.weight`]), ga, `∂A of ${m}`);
    expectClose(read(grads[`${m}.${SPARSE_VALUES}`]), gv, `∂v of ${m}`);
  }
  for (const name of ["model.embed_tokens.weight", "model.norm.weight"]) {
    expectClose(read(grads[name]), read(denseGrads[name]), `∂${name}`);
  }
  tree.dispose([params, loss, grads, denseLoss, denseGrads]);
  sparseFn.dispose();
  denseFn.dispose();
  expect(await liveBuffers()).toBe(before);
});

test("densifySparse gives the sparse model's logits", () => {
  const params = model();
  const t1 = tokens();
  const logits = read(llamaForward(tree.ref(params), t1.inputs, config));
  const densified = densifySparse(params, config);
  expect(
    Object.keys(densified).some((n) => n.includes("lowrank") || n.endsWith(SPARSE_VALUES)),
  ).toBe(false);
  const t2 = tokens();
  expectClose(read(llamaForward(densified, t2.inputs, withoutSltrain(config))), logits, "logits");
  t1.targets.dispose();
  t2.targets.dispose();
});

test("the support: ⌊δ·out·in⌋ distinct ascending indices, reproducible, per module", () => {
  const [out, inp] = [32, 16];
  const m = "model.layers.1.mlp.gate_proj";
  const s = sparseSupport(sl, m, out, inp);
  expect(s.length).toBe(Math.floor(0.15 * 32 * 16));
  for (let k = 1; k < s.length; k++) expect(s[k]).toBeGreaterThan(s[k - 1]!);
  expect(s[0]).toBeGreaterThanOrEqual(0);
  expect(s.at(-1)).toBeLessThan(out * inp);
  // Another seed or module draws another support; the same ones the same (a fresh draw).
  expect(sparseSupport({ ...sl, seed: 12 }, m, out, inp)).not.toEqual(s);
  expect(sparseSupport(sl, "model.layers.1.mlp.up_proj", out, inp)).not.toEqual(s);
  expect(sparseSupport({ ...sl, alpha: 1 }, m, out, inp)).toEqual(s);
});

test("bad layouts are named", () => {
  const params = model();
  const v = "model.layers.0.self_attn.q_proj.sparse_values";
  expect(() => checkLlamaParams(params, withoutSltrain(config))).toThrow(
    /needs the SLTrain record/,
  );
  const short = { ...params, [v]: np.zeros([3]) };
  expect(() => checkLlamaParams(short, config)).toThrow(
    /sparse_values has shape \[3\], expected \[\d+\]/,
  );
  short[v].dispose();
  const dense = { ...params, "model.layers.0.self_attn.q_proj.weight": np.zeros([16, 16]) };
  expect(() => checkLlamaParams(dense, config)).toThrow(/holds both .* and sparse values/);
  dense["model.layers.0.self_attn.q_proj.weight"].dispose();
  expect(() =>
    checkLlamaParams(params, llamaPreset("tiny", 13, { rankwise_sltrain: { ...sl, rank: 2 } })),
  ).toThrow(/have rank 3, config.json rankwise_sltrain records rank 2/);
  expect(() => llamaPreset("tiny", 13, { rankwise_sltrain: { ...sl, density: 1 } })).toThrow(
    /rankwise_sltrain.density must be in \(0, 1\)/,
  );
  tree.dispose(params);
});

test("a model folder keeps the SLTrain record and values through save → load", async () => {
  const params = model();
  const dir = join(root, "sltrain");
  await saveModel(dir, { config, params });
  const loaded = await loadModel(dir);
  expect(loaded.config).toEqual(config);
  expect(Object.keys(loaded.params)).toEqual(Object.keys(params));
  for (const [name, p] of Object.entries(params)) {
    expect(read(loaded.params[name]), name).toEqual(read(p));
  }
  tree.dispose([params, loaded.params]);
});

test("openModel and merge's folder source densify an SLTrain folder", async () => {
  const params = model();
  const dir = join(root, "sltrain-dense");
  await saveModel(dir, { config, params: tree.ref(params) });
  const want = densifySparse(params, config);
  const opened = await openModel(dir, { tokenizer: "char", text: "abcdef" });
  expect(opened.config).toEqual(withoutSltrain(config));
  expect(Object.keys(opened.params)).toEqual(Object.keys(want));
  const source = await openFolderSource("m", dir);
  expect(source.config).toEqual(withoutSltrain(config));
  expect(JSON.stringify(source.configJson)).not.toMatch(/rankwise_sltrain|rankwise_low_rank/);
  for (const [name, w] of Object.entries(want)) {
    const expected = read(w);
    expectClose(read(opened.params[name]!), expected, `openModel ${name}`);
    const streamed = await source.read(name);
    expectClose(read(streamed), expected, `merge source ${name}`);
    streamed.dispose();
  }
  source.close();
  tree.dispose([want, opened.params]);
});
