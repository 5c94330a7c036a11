/**
 * `adapter combine` (src/peft/combine/) against dense ΔW computed on the host in float64:
 * cat is Σ wᵢ·sᵢ·Bᵢ·Aᵢ exactly at rank Σ rᵢ across different ranks, alphas and rsLoRA;
 * linear is the same sum, exact by default and the best rank-k approximation with --rank;
 * svd keeps the largest singular values of the weighted sum (inputs built with known singular
 * values, so the kept part and the error are closed forms); ties is mergekit's TIES rule on
 * ΔW written out here; dare keeps a --density share of entries, rescaled to ΔW's L1 norm, seeded.
 * Bad inputs are one line; nothing leaks.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { initLlama, type LlamaParams } from "../../src/nn/llama.js";
import { llamaConfig } from "../../src/nn/llama-config.js";
import { type CombineOptions, combineAdapters } from "../../src/peft/combine/index.js";
import type { AdapterDelta } from "../../src/peft/delta.js";
import { loraAdapterDelta } from "../../src/peft/delta-lora.js";
import {
  type Adapter,
  type AdapterParams,
  type LoraConfigInput,
  loadAdapter,
  loraConfig,
  merge,
  planAdapter,
  saveAdapter,
  shapesOf,
} from "../../src/peft/index.js";
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
  relDiff,
  rng,
  scale,
  toDevice,
  transpose,
} from "./extract-host.js";

const config = llamaConfig({
  vocab_size: 24,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 1,
  num_attention_heads: 4,
  num_key_value_heads: 2,
});
const Q = "model.layers.0.self_attn.q_proj";
let base: LlamaParams;
let root: string;
beforeAll(async () => {
  await setup();
  base = initLlama(config, 5);
  root = await mkdtemp(join(tmpdir(), "rankwise-combine-"));
});
afterAll(async () => {
  tree.dispose(base);
  await rm(root, { recursive: true, force: true });
});

const asDelta = (a: Adapter): AdapterDelta =>
  loraAdapterDelta(
    { config: a.config, params: tree.ref(a.params) },
    planAdapter(a.config, shapesOf(base)),
    "test",
  );

/** Combine, read the written factors as dense ΔW per module, free everything. */
function combined(adapters: Adapter[], options: CombineOptions) {
  const inputs = adapters.map(asDelta);
  const { adapter, report } = combineAdapters(inputs, options);
  for (const d of inputs) d.dispose();
  const dense: Record<string, Host> = {};
  for (const m of report) {
    const b = fromDevice(adapter.params[`${m.name}.lora_B.weight`]);
    const a = fromDevice(adapter.params[`${m.name}.lora_A.weight`]);
    dense[m.name] = matmul(b, a); // scaling 1 (checked below)
  }
  const cfg = adapter.config;
  for (const m of report) {
    const alpha = cfg.alphaPattern[m.name] ?? cfg.loraAlpha;
    const r = cfg.rankPattern[m.name] ?? cfg.r;
    expect([r, alpha / r]).toEqual([m.rank, 1]);
  }
  return { adapter, report, dense };
}

/** Three adapters of different ranks, alphas and scalings, over overlapping modules. */
function mixed(): { adapters: Adapter[]; hosts: Record<string, Host>[] } {
  const specs: LoraConfigInput[] = [
    { r: 2, loraAlpha: 4, targetModules: ["q_proj", "v_proj"] },
    { r: 3, loraAlpha: 3, useRslora: true, targetModules: ["q_proj"] },
    { r: 1, loraAlpha: 8, targetModules: ["q_proj", "down_proj"] },
  ];
  const made = specs.map((s, i) => hostLora(base, s, 100 + i));
  return { adapters: made.map((m) => m.adapter), hosts: made.map((m) => m.host) };
}

/** Σ wᵢ·ΔWᵢ of `module` over the adapters that change it (host). */
function weightedHost(
  adapters: Adapter[],
  hosts: Record<string, Host>[],
  w: number[],
  module: string,
) {
  let sum: Host | undefined;
  adapters.forEach((a, i) => {
    const plan = planAdapter(a.config, shapesOf(base));
    if (!plan.modules.some((m) => m.name === module)) return;
    const d = scale(hostDelta(base, a, hosts[i], module), w[i]);
    sum = sum ? add(sum, d) : d;
  });
  if (!sum) throw new Error(`no adapter changes ${module}`);
  return sum;
}

const disposeAll = (adapters: Adapter[]) => {
  for (const a of adapters) tree.dispose(a.params);
};

describe("cat and linear: Σ wᵢ·ΔWᵢ exactly", () => {
  test("cat concatenates at rank Σ rᵢ; linear re-factors exactly; the folder merges to W + Σ wᵢ·ΔWᵢ", async () => {
    const { adapters, hosts } = mixed();
    const weights = [0.5, -1, 2];
    const before = await liveBuffers();
    for (const method of ["cat", "linear"]) {
      const { adapter, report, dense } = combined(adapters, { method, weights });
      const ranks = Object.fromEntries(report.map((m) => [m.name.split(".").at(-1), m.rank]));
      expect(ranks).toEqual({ q_proj: 6, v_proj: 2, down_proj: 1 });
      for (const m of report) {
        const want = weightedHost(adapters, hosts, weights, m.name);
        expect(relDiff(dense[m.name], want)).toBeLessThan(1e-5);
        expect(m.error).toBeLessThan(1e-5);
      }
      if (method === "cat") {
        const dir = join(root, "cat");
        await saveAdapter(dir, adapter);
        const loaded = await loadAdapter(dir, shapesOf(base));
        const { params, state } = merge(base, loaded.params, loaded.plan);
        disposeMergeState(state);
        for (const m of report) {
          const want = add(
            fromDevice(base[`${m.name}.weight`]),
            weightedHost(adapters, hosts, weights, m.name),
          );
          expect(relDiff(fromDevice(params[`${m.name}.weight`]), want)).toBeLessThan(1e-5);
        }
        tree.dispose([params, loaded.params]);
      }
      tree.dispose(adapter.params);
    }
    expect(await liveBuffers()).toBe(before);
    disposeAll(adapters);
  });
});

/**
 * Two adapters on q_proj with orthogonal supports and known singular values:
 * ΔW₁ = 3·u₀v₀ᵀ + 1·u₁v₁ᵀ (r 2, α 4), ΔW₂ = 2·u₂v₂ᵀ + 0.5·u₃v₃ᵀ (r 2, α 2). With weights
 * [1, 2] the sum has singular values 4, 3, 1, 1 on known vectors.
 */
function spectral(): Adapter[] {
  const next = rng(9);
  const u = orthonormalColumns(16, 4, next);
  const v = orthonormalColumns(16, 4, next);
  const col = (h: Host, j: number): Host => ({
    rows: h.rows,
    cols: 1,
    data: h.data.filter((_, i) => i % h.cols === j),
  });
  const make = (cols: number[], sigma: number[], alpha: number): Adapter => {
    const cfg = loraConfig({ r: 2, loraAlpha: alpha, targetModules: ["q_proj"] });
    const s = alpha / 2;
    // B = U·diag(√σ)/s, A = diag(√σ)·Vᵀ, so s·B·A = U·diag(σ)·Vᵀ.
    const bCols = cols.map((j, i) => scale(col(u, j), Math.sqrt(sigma[i]) / s));
    const aRows = cols.map((j, i) => scale(transpose(col(v, j)), Math.sqrt(sigma[i])));
    const b: Host = { rows: 16, cols: 2, data: new Float64Array(32) };
    for (let r = 0; r < 16; r++) for (let c = 0; c < 2; c++) b.data[r * 2 + c] = bCols[c].data[r];
    const a: Host = {
      rows: 2,
      cols: 16,
      data: new Float64Array([...aRows[0].data, ...aRows[1].data]),
    };
    const params: AdapterParams = {
      [`${Q}.lora_A.weight`]: toDevice(a),
      [`${Q}.lora_B.weight`]: toDevice(b),
    };
    return { config: cfg, params };
  };
  const outer = (j: number, sigma: number) => scale(matmul(col(u, j), transpose(col(v, j))), sigma);
  spectralParts = {
    top2: add(outer(0, 3), outer(2, 4)),
    all: [outer(0, 3), outer(1, 1), outer(2, 4), outer(3, 1)],
  };
  return [make([0, 1], [3, 1], 4), make([2, 3], [2, 0.5], 2)];
}
let spectralParts: { top2: Host; all: Host[] };

test("a DoRA input with the base: linear is ΔW_DoRA(W) + w·ΔW_LoRA, exact at full rank by default", () => {
  const { adapters, hosts } = mixed();
  const d = hostLora(base, { r: 2, loraAlpha: 4, useDora: true, targetModules: ["q_proj"] }, 12);
  const inputs = [adapters[0], d.adapter].map(asDelta);
  const { adapter, report } = combineAdapters(inputs, { method: "linear", weights: [2, 1] }, base);
  for (const i of inputs) i.dispose();
  const b = fromDevice(adapter.params[`${Q}.lora_B.weight`]);
  const a = fromDevice(adapter.params[`${Q}.lora_A.weight`]);
  const want = add(
    scale(hostDelta(base, adapters[0], hosts[0], Q), 2),
    hostDelta(base, d.adapter, d.host, Q),
  );
  expect(report.find((m) => m.name === Q)?.rank).toBe(16); // DoRA's ΔW is not low-rank
  expect(relDiff(matmul(b, a), want)).toBeLessThan(1e-5);
  tree.dispose([adapter.params, d.adapter.params]);
  disposeAll(adapters);
});

describe("svd and linear --rank: the largest singular values of the weighted sum", () => {
  test("svd at the default rank (max rᵢ = 2) keeps σ = 4, 3 and its error is √(1+1)/√27", () => {
    const adapters = spectral();
    const { adapter, report, dense } = combined(adapters, { method: "svd", weights: [1, 2] });
    expect(report[0].rank).toBe(2);
    expect(relDiff(dense[Q], spectralParts.top2)).toBeLessThan(1e-5);
    expect(report[0].error).toBeCloseTo(Math.sqrt(2 / 27), 5);
    tree.dispose(adapter.params);
    disposeAll(adapters);
  });

  test("linear: exact at the default rank 4, error 1/√27 at --rank 3", () => {
    const adapters = spectral();
    const exact = combined(adapters, { method: "linear", weights: [1, 2] });
    const sum = spectralParts.all.reduce(add);
    expect(exact.report[0].rank).toBe(4);
    expect(relDiff(exact.dense[Q], sum)).toBeLessThan(1e-5);
    const cut = combined(adapters, { method: "linear", weights: [1, 2], rank: 3 });
    expect(cut.report[0].rank).toBe(3);
    expect(cut.report[0].error).toBeCloseTo(1 / Math.sqrt(27), 5);
    expect(relDiff(cut.dense[Q], sum)).toBeCloseTo(1 / Math.sqrt(27), 5);
    tree.dispose([exact.adapter.params, cut.adapter.params]);
    disposeAll(adapters);
  });
});

/** mergekit's TIES on ΔW, written out: trim, weight, elect, mean over agreeing weights. */
function hostTies(deltas: Host[], weights: number[], density: number): Host {
  const n = deltas[0].data.length;
  const k = Math.floor(density * n);
  const wd = deltas.map((d, i) => {
    const order = [...d.data.keys()].sort((x, y) => Math.abs(d.data[y]) - Math.abs(d.data[x]));
    const keep = new Set(order.slice(0, k));
    return d.data.map((x, j) => (keep.has(j) ? x * weights[i] : 0));
  });
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const total = wd.reduce((s, x) => s + x[j], 0);
    const majority = total >= 0 ? 1 : -1;
    let mixed = 0;
    let div = 0;
    wd.forEach((x, i) => {
      if (Math.sign(x[j]) === majority) {
        mixed += x[j];
        div += weights[i];
      }
    });
    out[j] = mixed / (div === 0 ? 1 : div);
  }
  return { ...deltas[0], data: out };
}

describe("ties and dare on ΔW", () => {
  test("ties at full rank is mergekit's TIES of the ΔWᵢ; at the default rank its error is the SVD's", () => {
    const { adapters, hosts } = mixed();
    const weights = [1, 0.5, 2];
    const deltas = adapters.map((a, i) => hostDelta(base, a, hosts[i], Q));
    const want = hostTies(deltas, weights, 0.4);
    const full = combined(adapters, { method: "ties", weights, density: 0.4, rank: 16 });
    const q = full.report.find((m) => m.name === Q);
    expect(relDiff(full.dense[Q], want)).toBeLessThan(1e-5);
    expect(q?.error).toBeLessThan(1e-5);
    const low = combined(adapters, { method: "ties", weights, density: 0.4 });
    const lowQ = low.report.find((m) => m.name === Q);
    expect(lowQ?.rank).toBe(3); // max rᵢ
    expect(lowQ?.error).toBeCloseTo(relDiff(low.dense[Q], want), 4);
    expect(lowQ?.error).toBeGreaterThan(0.01); // sparsified: no longer low-rank
    tree.dispose([full.adapter.params, low.adapter.params]);
    disposeAll(adapters);
  });

  test("dare keeps about a density share of ΔW's entries, all scaled by ‖ΔW‖₁/‖kept‖₁, seeded", () => {
    const { adapters, hosts } = mixed();
    const one = [adapters[1]];
    const d = hostDelta(base, adapters[1], hosts[1], Q);
    const run = (seed: number) =>
      combined(one, { method: "dare", weights: [2], density: 0.5, rank: 16, seed });
    const a = run(3);
    const got = a.dense[Q];
    const kept = [...got.data.keys()].filter((j) => Math.abs(got.data[j]) > 1e-6);
    expect(kept.length / got.data.length).toBeGreaterThan(0.35);
    expect(kept.length / got.data.length).toBeLessThan(0.65);
    const l1 = d.data.reduce((s, x) => s + Math.abs(x), 0);
    const l1Kept = kept.reduce((s, j) => s + Math.abs(d.data[j]), 0);
    for (const j of kept) expect(got.data[j] / d.data[j]).toBeCloseTo((2 * l1) / l1Kept, 3);
    const again = run(3);
    const other = run(4);
    expect(relDiff(again.dense[Q], got)).toBeLessThan(1e-6);
    expect(relDiff(other.dense[Q], got)).toBeGreaterThan(0.1);
    tree.dispose([a.adapter.params, again.adapter.params, other.adapter.params]);
    // density 1 drops nothing: the weighted sum, exact at full rank.
    const all = combined(adapters, { method: "dare", weights: [1, -1, 0.5], rank: 16 });
    expect(relDiff(all.dense[Q], weightedHost(adapters, hosts, [1, -1, 0.5], Q))).toBeLessThan(
      1e-5,
    );
    tree.dispose(all.adapter.params);
    disposeAll(adapters);
  });
});

test("modules_to_save with the base: W + the method's rule on savedᵢ − W (linear, ties)", () => {
  const made = [1, 2].map((seed) =>
    hostLora(base, { r: 1, targetModules: ["q_proj"], modulesToSave: ["lm_head"] }, 40 + seed),
  );
  const w = fromDevice(base["lm_head.weight"]);
  const diffs = made.map((m) => add(m.host["lm_head.weight"], scale(w, -1)));
  const weights = [0.5, 2];
  for (const method of ["linear", "ties"]) {
    const inputs = made.map((m) => asDelta(m.adapter));
    const { adapter } = combineAdapters(inputs, { method, weights, density: 0.5 }, base);
    for (const i of inputs) i.dispose();
    const want =
      method === "linear"
        ? add(w, add(scale(diffs[0], 0.5), scale(diffs[1], 2)))
        : add(w, hostTies(diffs, weights, 0.5));
    expect(relDiff(fromDevice(adapter.params["lm_head.weight"]), want)).toBeLessThan(1e-6);
    expect(adapter.config.modulesToSave).toEqual(["lm_head"]);
    tree.dispose(adapter.params);
  }
  disposeAll(made.map((m) => m.adapter));
});

describe("bad inputs", () => {
  test("one line each: method, weights, density, rank, cat of DoRA, DoRA without base, modules_to_save", () => {
    const { adapters } = mixed();
    const dora = hostLora(base, { r: 2, useDora: true, targetModules: ["q_proj"] }, 1).adapter;
    const saved = hostLora(base, { r: 2, modulesToSave: ["lm_head"] }, 2).adapter;
    const attempt = (as: Adapter[], options: CombineOptions, withBase = false) => {
      const inputs = as.map(asDelta);
      try {
        combineAdapters(inputs, options, withBase ? base : undefined);
      } finally {
        for (const i of inputs) i.dispose();
      }
    };
    expect(() => attempt(adapters, { method: "mean" })).toThrow(/cat, linear, svd, ties, dare/);
    expect(() => attempt(adapters, { method: "cat", weights: [1, 2] })).toThrow(
      /one finite number per adapter: 3/,
    );
    expect(() => attempt(adapters, { method: "ties", density: 0 })).toThrow(/\(0, 1\]/);
    expect(() => attempt(adapters, { method: "svd", rank: 1.5 })).toThrow(/positive integer/);
    expect(() => attempt([adapters[0], dora], { method: "cat" }, true)).toThrow(
      /use --method linear or svd/,
    );
    expect(() => attempt([adapters[0], dora], { method: "linear" })).toThrow(/--model/);
    expect(() => attempt([adapters[0], saved], { method: "linear" })).toThrow(
      /modules_to_save.*--model/,
    );
    disposeAll([...adapters, dora, saved]);
  });
});
