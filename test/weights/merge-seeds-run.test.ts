/**
 * The seeds' merge methods through runMerge on small LLaMA folders (test/fixtures/merge/models):
 * the calibration statistics pass (Fisher, Gram) and the whole-model scan, against closed forms —
 * a lone model merged by uncertainty_gm is itself where it has curvature; the Fisher of two
 * sequences is the mean of each one's; block 0's q_proj Gram matrix is XᵀX/tokens of the RMS-normed
 * embeddings, computed here; mats's output solves its normal equations; orthogonal_continual's
 * task vector is as long as the average one — and the config errors, one line each.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CharTokenizer } from "../../src/data/tokenizer.js";
import { tokenizerFileText } from "../../src/data/tokenizer-file.js";
import * as tree from "../../src/engine/tree.js";
import { loadSafetensors } from "../../src/io/safetensors.js";
import type { LlamaParams } from "../../src/nn/llama.js";
import type { LlamaConfig } from "../../src/nn/llama-config.js";
import { loadModel } from "../../src/nn/pretrained.js";
import { runMerge } from "../../src/weights/merge/run.js";
import { calibrationIds, diagonalFisher, inputGrams } from "../../src/weights/merge/statistics.js";
import { closeness, read, setup } from "../helpers/engine.js";

const TEXT = "a bad cab faced a dead bee. ".repeat(40);
let dir: string;
let models: string;
let textFile: string;
let outs = 0;

beforeAll(async () => {
  await setup();
  dir = mkdtempSync(join(tmpdir(), "rankwise-merge-seeds-"));
  models = join(dir, "models");
  cpSync(resolve("test/fixtures/merge/models"), models, { recursive: true });
  writeFileSync(
    join(models, "base", "tokenizer.json"),
    tokenizerFileText(CharTokenizer.fromText(TEXT)),
  );
  textFile = join(dir, "text.txt");
  writeFileSync(textFile, TEXT);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const calib = () => `calibration: {data: ${textFile}, samples: 3, seq_len: 12, seed: 1}\n`;

async function merge(yaml: string): Promise<Record<string, Float64Array>> {
  const out = join(dir, `out${outs++}`);
  await runMerge(yaml.replaceAll("@", models), { out });
  const { tensors } = await loadSafetensors(join(out, "model.safetensors"));
  const values: Record<string, Float64Array> = {};
  for (const [k, a] of Object.entries(tensors)) {
    values[k] = read(a);
    a.dispose();
  }
  return values;
}

async function weights(name: string): Promise<Record<string, Float64Array>> {
  const { params } = await loadModel(join(models, name));
  const values: Record<string, Float64Array> = {};
  for (const [k, a] of Object.entries(params)) values[k] = read(a);
  tree.dispose(params);
  return values;
}

/** A fixture folder (LLaMA-style, whatever model kinds loadModel knows). */
async function loadLlama(path: string): Promise<{ config: LlamaConfig; params: LlamaParams }> {
  const { config, params } = await loadModel(path);
  return { config: config as LlamaConfig, params };
}

const close = (actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number) => {
  const { ratio, index } = closeness(actual, expected, tol, tol);
  expect(ratio, `element ${index}: ${actual[index]} vs ${expected[index]}`).toBeLessThanOrEqual(1);
};

test("uncertainty_gm of one model is that model wherever it or the base has curvature", async () => {
  const out = await merge(
    `merge_method: uncertainty_gm\nbase_model: @/base\n${calib()}models:\n  - model: @/a\n`,
  );
  const a = await weights("a");
  const base = await weights("base");
  let fromA = 0;
  let total = 0;
  for (const [name, values] of Object.entries(out)) {
    for (let i = 0; i < values.length; i++) {
      const isA = Math.abs(values[i]! - a[name]![i]!) <= 1e-5 * (1 + Math.abs(a[name]![i]!));
      const isBase = values[i] === base[name]![i];
      expect(isA || isBase, `${name}[${i}]`).toBe(true);
      if (isA) fromA++;
      total++;
    }
  }
  // Only embedding rows of characters absent from the text have no curvature.
  expect(fromA / total).toBeGreaterThan(0.9);
});

test("the Fisher of two sequences is the mean of each one's squared gradients", async () => {
  const { config, params } = await loadLlama(join(models, "a"));
  const ids = Int32Array.from({ length: 24 }, (_, i) => (i * 7) % 10);
  const both = await diagonalFisher(params, config, { tokens: ids, samples: 2, seqLen: 12 });
  const first = await diagonalFisher(params, config, {
    tokens: ids.subarray(0, 12),
    samples: 1,
    seqLen: 12,
  });
  const second = await diagonalFisher(params, config, {
    tokens: ids.subarray(12),
    samples: 1,
    seqLen: 12,
  });
  for (const name of Object.keys(params)) {
    const mean = read(first[name]!).map((v, i) => (v + read(second[name]!)[i]!) / 2);
    close(read(both[name]!), mean, 1e-5);
    expect(read(both[name]!).every((v) => v >= 0)).toBe(true);
  }
  for (const t of [both, first, second, params]) tree.dispose(t);
});

test("block 0's q_proj Gram matrix is XᵀX/tokens of the RMS-normed embeddings", async () => {
  const { config, params } = await loadLlama(join(models, "a"));
  const ids = Int32Array.from({ length: 16 }, (_, i) => (i * 3) % 9);
  const grams = inputGrams(params, config, { tokens: ids, samples: 2, seqLen: 8 });
  const h = config.hidden_size;
  const embed = read(params["model.embed_tokens.weight"]!);
  const norm = read(params["model.layers.0.input_layernorm.weight"]!);
  const expected = new Float64Array(h * h);
  for (const id of ids) {
    const x = embed.subarray(id * h, (id + 1) * h);
    const rms = Math.sqrt(x.reduce((s, v) => s + v * v, 0) / h + config.rms_norm_eps);
    const y = Array.from(x, (v, j) => (v / rms) * norm[j]!);
    for (let i = 0; i < h; i++)
      for (let j = 0; j < h; j++) expected[i * h + j]! += (y[i]! * y[j]!) / ids.length;
  }
  close(read(grams["model.layers.0.self_attn.q_proj.weight"]!), expected, 1e-4);
  // One Gram matrix per decoder linear layer, nothing else.
  expect(Object.keys(grams).length).toBe(7 * config.num_hidden_layers);
  tree.dispose(grams);
  tree.dispose(params);
});

test("mats: each linear weight solves (Σ G_t) Wᵀ = Σ G_t W_tᵀ; norms are averaged", async () => {
  const out = await merge(
    `merge_method: mats\nbase_model: @/base\n${calib()}parameters: {iterations: 200, rtol: 1.0e-6}\nmodels:\n  - model: @/a\n  - model: @/b\n`,
  );
  const name = "model.layers.1.mlp.down_proj.weight";
  const gramsOf = async (m: string) => {
    const { config, params } = await loadLlama(join(models, m));
    const tok = CharTokenizer.fromText(TEXT);
    const ids = calibrationIds(
      { data: textFile, samples: 3, seqLen: 12, seed: 1 },
      tok,
      config,
      "calibration",
    );
    const g = inputGrams(params, config, ids);
    const gram = g[name]!.ref;
    tree.dispose(g);
    const w = params[name]!.ref;
    tree.dispose(params);
    return { gram, w };
  };
  const ga = await gramsOf("a");
  const gb = await gramsOf("b");
  const [o, i] = ga.w.shape as [number, number];
  const merged = np.array(Float32Array.from(out[name]!), { shape: [o, i] });
  const a = np.add(ga.gram.ref, gb.gram.ref);
  const lhs = read(np.matmul(a, merged.transpose()));
  const rhs = read(
    np.add(np.matmul(ga.gram, ga.w.transpose()), np.matmul(gb.gram, gb.w.transpose())),
  );
  const scale = Math.max(...rhs.map(Math.abs));
  close(
    lhs.map((v) => v / scale),
    rhs.map((v) => v / scale),
    1e-3,
  );
  const wa = await weights("a");
  const wb = await weights("b");
  const n = "model.norm.weight";
  close(
    out[n]!,
    wa[n]!.map((v, k) => (v + wb[n]![k]!) / 2),
    1e-6,
  );
});

test("orthogonal_continual: the merged task vector is as long as the average task vector", async () => {
  const out = await merge(
    "merge_method: orthogonal_continual\nbase_model: @/base\nmodels:\n  - model: @/a\n  - model: @/b\n  - model: @/c\n",
  );
  const base = await weights("base");
  const norm = (w: Record<string, Float64Array>) =>
    Math.sqrt(
      Object.keys(base).reduce(
        (s, k) => s + w[k]!.reduce((t, v, i) => t + (v - base[k]![i]!) ** 2, 0),
        0,
      ),
    );
  const taus = await Promise.all(["a", "b", "c"].map(async (m) => norm(await weights(m))));
  expect(norm(out) / (taus.reduce((s, x) => s + x, 0) / 3)).toBeCloseTo(1, 4);
});

test("fisher: every weight between the two models', and not their plain average", async () => {
  const out = await merge(
    `merge_method: fisher\ntokenizer_source: @/base\nmodels:\n  - model: @/a\n    calibration: {data: ${textFile}, samples: 2, seq_len: 10}\n  - model: @/b\n${calib()}`,
  );
  const a = await weights("a");
  const b = await weights("b");
  let differs = 0;
  for (const [name, values] of Object.entries(out)) {
    values.forEach((v, i) => {
      const [lo, hi] = [Math.min(a[name]![i]!, b[name]![i]!), Math.max(a[name]![i]!, b[name]![i]!)];
      expect(v).toBeGreaterThanOrEqual(lo - 1e-6);
      expect(v).toBeLessThanOrEqual(hi + 1e-6);
      if (Math.abs(v - (a[name]![i]! + b[name]![i]!) / 2) > 1e-4) differs++;
    });
  }
  expect(differs).toBeGreaterThan(100);
});

test("fisher with a base_model: the base is one more model, with its own Fisher", async () => {
  const out = await merge(
    `merge_method: fisher\nbase_model: @/base\ncalibration: {data: ${textFile}, samples: 1, seq_len: 8}\nmodels:\n  - model: @/a\n`,
  );
  const a = await weights("a");
  const base = await weights("base");
  for (const [name, values] of Object.entries(out)) {
    values.forEach((v, i) => {
      const [lo, hi] = [
        Math.min(a[name]![i]!, base[name]![i]!),
        Math.max(a[name]![i]!, base[name]![i]!),
      ];
      expect(v).toBeGreaterThanOrEqual(lo - 1e-6);
      expect(v).toBeLessThanOrEqual(hi + 1e-6);
    });
  }
});

describe("bad configs: one line naming the key", () => {
  const rows: [string, string, RegExp][] = [
    [
      "no calibration",
      "merge_method: fisher\nmodels:\n  - model: @/a\n  - model: @/b\n",
      /^merge_method fisher needs calibration text: set calibration: \{data: <corpus name or text file>, samples, seq_len, seed\} at the top level or per model \(missing for .*\/a\)$/,
    ],
    [
      "unknown calibration key",
      "merge_method: fisher\ncalibration: {data: moby-dick, tokens: 3}\nmodels:\n  - model: @/a\n",
      /^calibration: unknown key "tokens"; accepted: data, samples, seq_len, seed$/,
    ],
    [
      "bad samples",
      "merge_method: fisher\ncalibration: {data: moby-dick, samples: 0}\nmodels:\n  - model: @/a\n",
      /^calibration\.samples must be an integer ≥ 1, got 0$/,
    ],
    [
      "unknown corpus",
      "merge_method: fisher\ntokenizer_source: @/base\nmodels:\n  - model: @/a\n    calibration: nowhere-corpus\n",
      /^models\[0\]\.calibration\.data: unknown corpus "nowhere-corpus"; accepted: .*$/,
    ],
    [
      "seq_len past the context",
      "merge_method: mats\nbase_model: @/base\ncalibration: {data: moby-dick, seq_len: 65}\nmodels:\n  - model: @/a\n",
      /^calibration\.seq_len 65 is longer than the model's context \(max_position_embeddings 64\)$/,
    ],
    [
      "common_space_fraction out of range",
      "merge_method: iso_cts\nbase_model: @/base\nparameters: {common_space_fraction: 1.5}\nmodels:\n  - model: @/a\n",
      /^parameter "common_space_fraction" must be in \[0, 1\], got 1\.5 for model\.embed_tokens\.weight$/,
    ],
    [
      "unknown mats init",
      "merge_method: mats\nbase_model: @/base\ncalibration: moby-dick\nparameters: {init: zero}\nmodels:\n  - model: @/a\n",
      /^parameter "init" must be one of task_arithmetic, average, base, got zero for model\.embed_tokens\.weight$/,
    ],
    [
      "iso_c without a base",
      "merge_method: iso_c\nmodels:\n  - model: @/a\n",
      /^merge_method iso_c needs base_model/,
    ],
  ];
  for (const [what, yaml, message] of rows) {
    test(what, async () => {
      const out = join(dir, `bad${outs++}`);
      await expect(runMerge(yaml.replaceAll("@", models), { out })).rejects.toThrow(message);
    });
  }
});
