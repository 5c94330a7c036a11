/**
 * Conversion to LoRA by truncated SVD (src/peft/extract.ts) against closed forms computed on the
 * host: a ΔW of rank r is recovered exactly at any rank ≥ r; at rank k the relative error is
 * the SVD tail √(Σ_{i>k}σᵢ²)/‖σ‖ (Eckart–Young) for matrices built with known σ; the energy
 * rule picks the smallest k reaching the share; converted folders load with loadAdapter, have
 * PEFT's config fields, and merge to W + ΔW of the original (LoRA, rsLoRA, embeddings,
 * modules_to_save, DoRA with its base); a LoRA extracted from two models merges to the tuned
 * model, with mergekit's modules_to_save default.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { UsageError } from "../../src/engine/errors.js";
import * as tree from "../../src/engine/tree.js";
import { readSafetensorsHeader } from "../../src/io/safetensors.js";
import { initLlama, type LlamaParams } from "../../src/nn/llama.js";
import { llamaConfig } from "../../src/nn/llama-config.js";
import { readAdapterDelta } from "../../src/peft/delta.js";
import {
  convertAdapter,
  energyRank,
  extractLora,
  factorize,
  factorizeProduct,
  relativeError,
} from "../../src/peft/extract.js";
import { loadAdapter, merge, saveAdapter, shapesOf } from "../../src/peft/index.js";
import { disposeMergeState } from "../../src/peft/merge.js";
import { liveBuffers, setup } from "../helpers/engine.js";
import {
  add,
  fromDevice,
  type Host,
  hostDelta,
  hostLora,
  matmul,
  orthonormalColumns,
  randomHost,
  relDiff,
  rng,
  toDevice,
  transpose,
  withSingularValues,
} from "./extract-host.js";

const config = llamaConfig({
  vocab_size: 24,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
});
let root: string;
let base: LlamaParams;
beforeAll(async () => {
  await setup();
  root = await mkdtemp(join(tmpdir(), "rankwise-extract-"));
  base = initLlama(config, 3);
});
afterAll(async () => {
  tree.dispose(base);
  await rm(root, { recursive: true, force: true });
});

const SIGMA = [5, 3, 2, 1, 0.5];
const known = (): Host => {
  const next = rng(11);
  return withSingularValues(orthonormalColumns(12, 5, next), SIGMA, orthonormalColumns(9, 5, next));
};
const tail = (k: number) =>
  Math.sqrt(SIGMA.slice(k).reduce((s, x) => s + x * x, 0)) /
  Math.sqrt(SIGMA.reduce((s, x) => s + x * x, 0));

/** Merge an adapter folder into `base` (borrowed) and read every merged tensor. */
async function mergedFromFolder(dir: string): Promise<Record<string, Host | Float64Array>> {
  const loaded = await loadAdapter(dir, shapesOf(base));
  const { params, state } = merge(base, loaded.params, loaded.plan);
  disposeMergeState(state);
  tree.dispose(loaded.params);
  const out: Record<string, Host | Float64Array> = {};
  for (const [k, v] of Object.entries(params)) {
    out[k] = v.ndim === 2 ? fromDevice(v) : Float64Array.from(v.ref.dataSync() as Float32Array);
    v.dispose();
  }
  return out;
}

describe("truncated SVD factors", () => {
  test("a ΔW of rank r is recovered exactly at every rank ≥ r", () => {
    const next = rng(5);
    const d = matmul(randomHost(10, 3, next), randomHost(3, 7, next)); // rank 3
    for (const k of [3, 5, 7, 40]) {
      const f = factorize(toDevice(d), { rank: k });
      expect(f.rank).toBe(Math.min(k, 7));
      expect(relDiff(matmul(fromDevice(f.left), fromDevice(f.right)), d)).toBeLessThan(1e-5);
      f.left.dispose();
      f.right.dispose();
    }
  });

  test("the error at rank k is the SVD tail (Eckart–Young), the σ are the built ones", () => {
    const d = known();
    for (let k = 1; k <= 5; k++) {
      const f = factorize(toDevice(d), { rank: k });
      for (let i = 0; i < 5; i++) expect(f.singular[i]).toBeCloseTo(SIGMA[i], 5);
      const target = toDevice(d);
      expect(relativeError(target, f.left, f.right)).toBeCloseTo(tail(k), 5);
      expect(relDiff(matmul(fromDevice(f.left), fromDevice(f.right)), d)).toBeCloseTo(tail(k), 5);
      // √σ on both sides: ‖left‖_F² = ‖right‖_F² = Σ_{i≤k} σᵢ.
      const sumSigma = SIGMA.slice(0, k).reduce((s, x) => s + x, 0);
      const sq = (h: Host) => h.data.reduce((s, x) => s + x * x, 0);
      expect(sq(fromDevice(f.left))).toBeCloseTo(sumSigma, 4);
      expect(sq(fromDevice(f.right))).toBeCloseTo(sumSigma, 4);
      [target, f.left, f.right].forEach((a) => {
        a.dispose();
      });
    }
  });

  test("from factors (QR of each, SVD of the core): the same σ and Eckart–Young tail", () => {
    const next = rng(11);
    const u = orthonormalColumns(12, 5, next);
    const v = orthonormalColumns(9, 5, next);
    const us: Host = { ...u, data: u.data.map((x, i) => x * SIGMA[i % 5]) };
    for (let k = 1; k <= 6; k++) {
      const f = factorizeProduct(toDevice(us), toDevice(transpose(v)), { rank: k });
      expect(f.rank).toBe(Math.min(k, 5)); // the product has rank 5
      for (let i = 0; i < 5; i++) expect(f.singular[i]).toBeCloseTo(SIGMA[i], 5);
      expect(relDiff(matmul(fromDevice(f.left), fromDevice(f.right)), known())).toBeCloseTo(
        tail(Math.min(k, 5)),
        5,
      );
      f.left.dispose();
      f.right.dispose();
    }
  });

  test("energy: the smallest k whose Σσᵢ² share reaches e", () => {
    // σ² = 25, 9, 4, 1, 0.25 of 39.25: shares 0.637, 0.866, 0.968, 0.994, 1.
    const cases: [number, number][] = [
      [0.5, 1],
      [25 / 39.25, 1],
      [0.7, 2],
      [0.9, 3],
      [0.99, 4],
      [0.995, 5],
      [1, 5],
    ];
    for (const [e, k] of cases) {
      expect(energyRank(SIGMA, e)).toBe(k);
      const f = factorize(toDevice(known()), { energy: e });
      expect(f.rank).toBe(k);
      f.left.dispose();
      f.right.dispose();
    }
    expect(energyRank([0, 0, 0], 0.9)).toBe(1); // ΔW = 0 keeps one (zero) pair
  });
});

describe("adapter convert --to lora", () => {
  test("LoRA/rsLoRA with patterns, an embedding and modules_to_save: exact (rank 4 keeps each r), PEFT's fields", async () => {
    for (const rslora of [false, true]) {
      const { adapter, host } = hostLora(
        base,
        {
          r: 3,
          loraAlpha: 5,
          useRslora: rslora,
          targetModules: ["q_proj", "down_proj", "embed_tokens"],
          rankPattern: { down_proj: 2 },
          alphaPattern: { down_proj: 7 },
          modulesToSave: ["lm_head"],
        },
        21,
      );
      const src = join(root, `lora-${rslora}`);
      await saveAdapter(src, adapter);
      const before = await liveBuffers();
      const delta = await readAdapterDelta(src); // no base model: shapes from the file
      const { adapter: out, report } = convertAdapter(delta, { rank: 4 });
      delta.dispose();
      const dst = join(root, `lora-${rslora}-converted`);
      await saveAdapter(dst, out);
      tree.dispose(out.params);
      expect(await liveBuffers()).toBe(before);
      const downs = report.filter((m) => m.name.endsWith("down_proj")).map((m) => m.name);
      for (const m of report) {
        expect(m.rank).toBe(downs.includes(m.name) ? 2 : 3); // a LoRA's ΔW has rank ≤ r
        expect(m.error).toBeLessThan(1e-5);
      }
      const json = JSON.parse(await readFile(join(dst, "adapter_config.json"), "utf8"));
      expect(Object.keys(json)).toEqual([...Object.keys(json)].sort());
      expect(json).toMatchObject({
        peft_type: "LORA",
        r: 3,
        lora_alpha: 3,
        use_rslora: false,
        use_dora: false,
        init_lora_weights: true,
        rank_pattern: Object.fromEntries(downs.map((n) => [n, 2])),
        alpha_pattern: Object.fromEntries(downs.map((n) => [n, 2])),
        modules_to_save: ["lm_head"],
        inference_mode: true,
      });
      expect([...json.target_modules].sort()).toEqual(report.map((m) => m.name).sort());
      const header = await readSafetensorsHeader(join(dst, "adapter_model.safetensors"));
      const shapes = Object.fromEntries(header.tensors.map((t) => [t.name, t.shape]));
      expect(shapes["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"]).toEqual([
        3, 16,
      ]);
      expect(shapes["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"]).toEqual([
        16, 3,
      ]);
      expect(shapes["base_model.model.model.embed_tokens.lora_embedding_A"]).toEqual([3, 24]);
      expect(shapes["base_model.model.model.embed_tokens.lora_embedding_B"]).toEqual([16, 3]);
      expect(shapes["base_model.model.lm_head.weight"]).toEqual([24, 16]);
      const merged = await mergedFromFolder(dst);
      for (const m of report) {
        const w = fromDevice(base[`${m.name}.weight`]);
        const expected = add(w, hostDelta(base, adapter, host, m.name));
        expect(relDiff(merged[`${m.name}.weight`] as Host, expected)).toBeLessThan(1e-6);
      }
      expect(Array.from((merged["lm_head.weight"] as Host).data)).toEqual(
        Array.from(host["lm_head.weight"].data),
      );
      tree.dispose(adapter.params);
    }
  });

  test("--energy writes per-module ranks as rank_pattern = alpha_pattern, and it loads", async () => {
    const { adapter } = hostLora(base, { r: 4, targetModules: ["q_proj", "up_proj"] }, 8);
    // One module's update nearly rank 1: its B's last three columns shrunk.
    const key = "model.layers.0.self_attn.q_proj.lora_B.weight";
    adapter.params[key] = adapter.params[key].mul(np.array([1, 0.01, 0.01, 0.01]));
    const src = join(root, "energy");
    await saveAdapter(src, adapter);
    tree.dispose(adapter.params);
    const delta = await readAdapterDelta(src);
    const { adapter: out, report } = convertAdapter(delta, { energy: 0.9 });
    delta.dispose();
    const r = Math.max(...report.map((m) => m.rank));
    expect(out.config.r).toBe(r);
    expect(out.config.loraAlpha).toBe(r);
    const expected = Object.fromEntries(
      report.filter((m) => m.rank !== r).map((m) => [m.name, m.rank]),
    );
    expect(out.config.rankPattern).toEqual(expected);
    expect(out.config.alphaPattern).toEqual(expected);
    expect(report.find((m) => m.name === "model.layers.0.self_attn.q_proj")?.rank).toBe(1);
    for (const m of report) expect(m.rank).toBeLessThan(4); // random rank-4 ΔW: 90% needs fewer
    expect(Object.keys(expected).length).toBeGreaterThan(0);
    const dst = join(root, "energy-converted");
    await saveAdapter(dst, out);
    tree.dispose(out.params);
    const loaded = await loadAdapter(dst, shapesOf(base));
    const byName = (a: unknown[][]) => a.sort((x, y) => String(x[0]).localeCompare(String(y[0])));
    expect(byName(loaded.plan.modules.map((m) => [m.name, m.r, m.scaling]))).toEqual(
      byName(report.map((m) => [m.name, m.rank, 1])),
    );
    tree.dispose(loaded.params);
  });

  test("DoRA: refused without the base; with it, the merged weights are DoRA's", async () => {
    const { adapter, host } = hostLora(
      base,
      { r: 2, loraAlpha: 4, useDora: true, targetModules: ["v_proj", "gate_proj"] },
      33,
    );
    const src = join(root, "dora");
    await saveAdapter(src, adapter);
    const noBase = await readAdapterDelta(src);
    expect(() => convertAdapter(noBase, { rank: 2 })).toThrow(UsageError);
    expect(() => convertAdapter(noBase, { rank: 2 })).toThrow(/DoRA.*--model/);
    noBase.dispose();
    const delta = await readAdapterDelta(src, shapesOf(base));
    const { adapter: out, report } = convertAdapter(delta, { rank: 16 }, base);
    delta.dispose();
    const dst = join(root, "dora-converted");
    await saveAdapter(dst, out);
    tree.dispose(out.params);
    const merged = await mergedFromFolder(dst);
    for (const m of report) {
      const expected = add(
        fromDevice(base[`${m.name}.weight`]),
        hostDelta(base, adapter, host, m.name),
      );
      expect(relDiff(merged[`${m.name}.weight`] as Host, expected)).toBeLessThan(1e-5);
    }
    tree.dispose(adapter.params);
  });

  test("bad rules are one line naming the accepted values", async () => {
    const { adapter } = hostLora(base, { r: 2 }, 1);
    const src = join(root, "bad");
    await saveAdapter(src, adapter);
    tree.dispose(adapter.params);
    const delta = await readAdapterDelta(src);
    expect(() => convertAdapter(delta, { rank: 0 })).toThrow(/positive integer/);
    expect(() => convertAdapter(delta, { energy: 1.5 })).toThrow(/\(0, 1\]/);
    delta.dispose();
    const broken = hostLora(base, { r: 2 }, 2).adapter;
    const key = "model.layers.1.self_attn.v_proj.lora_B.weight";
    broken.params[key] = broken.params[key].mul(Number.NaN);
    const bad = join(root, "nan");
    await saveAdapter(bad, broken);
    tree.dispose(broken.params);
    const nan = await readAdapterDelta(bad);
    const before = await liveBuffers();
    expect(() => convertAdapter(nan, { rank: 2 })).toThrow(
      "the update of model.layers.1.self_attn.v_proj has NaN or infinite entries",
    );
    expect(await liveBuffers()).toBe(before);
    nan.dispose();
    // A fresh adapter (B = 0): every ΔW is 0, nothing to write (QR of a zero factor is fine).
    const fresh = hostLora(base, { r: 2 }, 3).adapter;
    for (const k of Object.keys(fresh.params))
      if (k.endsWith("lora_B.weight")) fresh.params[k] = fresh.params[k].mul(0);
    const zero = join(root, "zero");
    await saveAdapter(zero, fresh);
    tree.dispose(fresh.params);
    const z = await readAdapterDelta(zero);
    expect(() => convertAdapter(z, { rank: 2 })).toThrow("every module's update is 0");
    expect(await liveBuffers()).toBe(before);
    z.dispose();
    await expect(readAdapterDelta(join(root, "nowhere"))).rejects.toThrow(/not a PEFT adapter/);
  });
});

describe("adapter convert --from-models", () => {
  test("tuned − base of rank 2 extracts exactly; embeddings, head and norms are modules_to_save", async () => {
    const tuned: LlamaParams = {};
    const next = rng(77);
    const changed: string[] = [];
    for (const [k, v] of Object.entries(base)) {
      if (/(q_proj|down_proj)\.weight$/.test(k)) {
        const [o, i] = v.shape;
        const d = matmul(randomHost(o, 2, next, 0.1), randomHost(2, i, next, 0.1));
        tuned[k] = v.ref.add(toDevice(d));
        changed.push(k);
      } else if (k === "model.norm.weight" || k === "lm_head.weight") {
        tuned[k] = v.ref.mul(1.5);
      } else {
        tuned[k] = v.ref;
      }
    }
    const { adapter, report } = extractLora(base, tuned, { rank: 2 }, { baseModel: "base" });
    expect(adapter.config.modulesToSave).toEqual([
      "embed_tokens",
      "input_layernorm",
      "post_attention_layernorm",
      "norm",
      "lm_head",
    ]);
    expect(report.map((m) => m.name)).toEqual(
      Object.keys(base)
        .filter((k) => /(proj)\.weight$/.test(k))
        .map((k) => k.slice(0, -".weight".length)),
    );
    for (const m of report) expect(m.error).toBeLessThan(1e-5);
    // Unchanged modules (ΔW = 0) are left out, reported with rank 0.
    for (const m of report)
      if (!changed.includes(`${m.name}.weight`)) expect([m.rank, m.error]).toEqual([0, 0]);
    expect([...(adapter.config.targetModules as string[])].sort()).toEqual(
      changed.map((k) => k.slice(0, -".weight".length)).sort(),
    );
    const dst = join(root, "from-models");
    await saveAdapter(dst, adapter);
    tree.dispose(adapter.params);
    const merged = await mergedFromFolder(dst);
    for (const [k, v] of Object.entries(tuned)) {
      const want = v.ndim === 2 ? fromDevice(v) : null;
      const got = merged[k];
      if (want) expect(relDiff(got as Host, want)).toBeLessThan(1e-6);
      else expect(Array.from(got as Float64Array)).toEqual(Array.from(v.ref.dataSync()));
    }
    tree.dispose(tuned);
  });

  test("models of different shapes are refused in one line", () => {
    const other = initLlama(llamaConfig({ ...config, intermediate_size: 24 }), 1);
    expect(() => extractLora(base, other, { rank: 2 })).toThrow(/must share an architecture/);
    tree.dispose(other);
  });
});
