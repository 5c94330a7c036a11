/**
 * compressModel on a tiny LLaMA: every method gives a model that passes the parameter check and
 * runs; full-rank SVD factors reproduce the dense model's logits; the folder written for LQER
 * (4-bit codes + scales beside float32 factors) loads back to the same model and is smaller;
 * nothing leaks.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { checkLlamaParams, initLlama, type LlamaParams, llamaForward } from "../../src/nn/llama.js";
import { llamaPreset } from "../../src/nn/llama-config.js";
import { loadModel } from "../../src/nn/pretrained.js";
import {
  COMPRESS_METHODS,
  compressModel,
  saveCompressedModel,
} from "../../src/weights/compress/index.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";

let root: string;
beforeAll(async () => {
  await setup();
  root = await mkdtemp(join(tmpdir(), "rankwise-compress-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const config = llamaPreset("tiny", 13);
const calibration = {
  tokens: Int32Array.from({ length: 3 * 10 }, (_, i) => (i * 7 + 3) % 13),
  samples: 3,
  seqLen: 10,
};
const IDS = Int32Array.from({ length: 12 }, (_, i) => (i * 5) % 13);

/** Logits of the model (borrows params). */
function logits(params: LlamaParams): Float64Array {
  const out = llamaForward(
    tree.ref(params),
    np.array(IDS, { shape: [1, 12], dtype: np.int32 }),
    config,
  );
  const data = read(out);
  out.dispose();
  return data;
}

const maxDiff = (a: Float64Array, b: Float64Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

test("full-rank SVD factors reproduce the dense logits; no leaks", async () => {
  const before = await liveBuffers();
  const dense = initLlama(config, 1);
  const want = logits(dense);
  const { params, summary } = compressModel(dense, config, COMPRESS_METHODS.svd, { rankRatio: 1 });
  expect(summary.layers).toHaveLength(14);
  expect(summary.layers.every((l) => l.stored === "factors" && l.relativeError < 1e-5)).toBe(true);
  expect(Object.keys(params).some((k) => k.endsWith("q_proj.weight"))).toBe(false);
  expect(maxDiff(logits(params), want)).toBeLessThan(1e-4);
  tree.dispose(params);
  expect(await liveBuffers()).toBe(before);
});

test.each(Object.keys(COMPRESS_METHODS))("%s: a checked, runnable model", (name) => {
  const { params, summary } = compressModel(initLlama(config, 2), config, COMPRESS_METHODS[name], {
    rankRatio: 0.25,
    calibration,
    iterations: 2,
  });
  checkLlamaParams(params, config);
  expect(summary.method).toBe(name);
  // Fewer numbers; LQER and LQ-LoRA add factors to Q, and save bytes through Q's 4-bit codes.
  if (COMPRESS_METHODS[name].keepsDense) {
    expect(summary.bytes.after).toBeLessThan(summary.bytes.before);
  } else expect(summary.parameters.after).toBeLessThan(summary.parameters.before);
  for (const layer of summary.layers) {
    expect(layer.relativeError).toBeGreaterThanOrEqual(0);
    expect(layer.relativeError).toBeLessThan(1);
  }
  expect(logits(params).every(Number.isFinite)).toBe(true);
  tree.dispose(params);
});

test("LQER's folder: 4-bit Q + factors, smaller, loads back to the same logits", async () => {
  const compressed = compressModel(initLlama(config, 3), config, COMPRESS_METHODS.lqer, {
    rankRatio: 0.25,
    calibration,
    bits: 4,
  });
  const { params, summary } = compressed;
  expect(summary.layers.every((l) => l.stored === "dense+factors")).toBe(true);
  expect(summary.bytes.after).toBeLessThan(summary.bytes.before);
  const dir = join(root, "lqer");
  await saveCompressedModel(dir, config, compressed);
  const json = JSON.parse(await readFile(join(dir, "config.json"), "utf8"));
  expect(json.quantization_config).toMatchObject({ bits: 4, group_size: -1 });
  expect(json.rankwise_low_rank["model.layers.0.mlp.down_proj"]).toBe(4); // 0.25 · min(16, 32)
  const loaded = await loadModel(dir);
  expect(Object.keys(loaded.params).sort()).toEqual(Object.keys(params).sort());
  expect(maxDiff(logits(loaded.params as LlamaParams), logits(params))).toBe(0);
  tree.dispose([params, loaded.params]);
});

test("bad options throw one line naming the option, and leak nothing", async () => {
  const before = await liveBuffers();
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["svd", {}, /exactly one of rankRatio \(0 < r ≤ 1\) or energy/],
    ["svd", { energy: 0 }, /energy must be a number in \(0, 1\], got 0/],
    ["fwsvd", { rankRatio: 0.5 }, /fwsvd needs calibration sequences/],
    ["lqer", { rankRatio: 0.5, bits: 3 }, /bits must be 8 or 4, got 3/],
    ["lqer", { rankRatio: 0.5, groupSize: 5 }, /group size 5 must divide every layer's input size/],
    ["lq-lora", { rankRatio: 0.5, iterations: 0 }, /iterations must be an integer ≥ 1, got 0/],
  ];
  for (const [name, options, message] of cases) {
    expect(() =>
      compressModel(initLlama(config, 4), config, COMPRESS_METHODS[name], options as never),
    ).toThrow(message);
  }
  expect(() => compressModel(initLlama(config, 4), config, "nope", { rankRatio: 0.5 })).toThrow(
    /method must be one of svd, fwsvd, welore, cur, lqer, lq-lora; got "nope"/,
  );
  expect(await liveBuffers()).toBe(before);
});

test("a method may be given by name", () => {
  const { params, summary } = compressModel(initLlama(config, 5), config, "welore", {
    energy: 0.5,
  });
  expect(summary.method).toBe("welore");
  tree.dispose(params);
});
