/**
 * Merging models that hold a stored INLP projection (`model.layers.<L>.inlp_projection`, from
 * `rankwise edit inlp` without --fold): copied through when every model holds the same one at that
 * layer (slices move it with its layer), refused with one line naming the tensor and `--fold` when
 * one model lacks it or holds a different one; a refused merge writes nothing; no arrays leak.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { initLlama, RESIDUAL_PROJECTION } from "../../src/nn/llama.js";
import { llamaConfig } from "../../src/nn/llama-config.js";
import { loadModel, saveModel } from "../../src/nn/pretrained.js";
import { runMerge } from "../../src/weights/merge/run.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";

const D = 4;
const config = llamaConfig({
  vocab_size: 5,
  hidden_size: D,
  intermediate_size: 8,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  max_position_embeddings: 8,
});
let tmp: string;

/** P = I − b bᵀ for the unit vector b along axis `axis`. */
function projection(axis: number): Float32Array {
  const p = new Float32Array(D * D);
  for (let j = 0; j < D; j++) p[j * D + j] = j === axis ? 0 : 1;
  return p;
}

async function model(name: string, seed: number, projections: Record<number, number>) {
  const params = initLlama(config, seed);
  for (const [layer, axis] of Object.entries(projections)) {
    params[`model.layers.${layer}.${RESIDUAL_PROJECTION}`] = np
      .array(projection(axis))
      .reshape([D, D]);
  }
  await saveModel(join(tmp, name), { config, params });
  tree.dispose(params);
}

beforeAll(async () => {
  await setup();
  tmp = mkdtempSync(join(tmpdir(), "rankwise-merge-proj-"));
  await model("a", 1, { 1: 0 });
  await model("b", 2, { 1: 0 });
  await model("c", 3, { 1: 2 });
  await model("plain", 4, {});
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const linear = (x: string, y: string) =>
  `merge_method: linear\nmodels:\n  - model: ${tmp}/${x}\n    parameters: {weight: 1}\n  - model: ${tmp}/${y}\n    parameters: {weight: 1}\n`;

test("the same projection in every model is copied through, with its layer", async () => {
  const live = await liveBuffers();
  const out = join(tmp, "ab");
  await runMerge(linear("a", "b"), { out });
  const sliced = join(tmp, "ab-sliced");
  // Layer 1 of both becomes output layer 0, then layer 0 of a becomes output layer 1.
  await runMerge(
    `merge_method: linear\nparameters: {weight: 1}\nslices:\n  - sources:\n      - model: ${tmp}/a\n        layer_range: [1, 2]\n      - model: ${tmp}/b\n        layer_range: [1, 2]\n  - sources:\n      - model: ${tmp}/a\n        layer_range: [0, 1]\n`,
    { out: sliced },
  );
  expect(await liveBuffers()).toBe(live);
  const whole = await loadModel(out);
  const moved = await loadModel(sliced);
  try {
    const name = (i: number) => `model.layers.${i}.${RESIDUAL_PROJECTION}`;
    expect(Object.keys(whole.params).filter((k) => k.endsWith(RESIDUAL_PROJECTION))).toEqual([
      name(1),
    ]);
    expect(read(whole.params[name(1)]!)).toEqual(Float64Array.from(projection(0)));
    expect(Object.keys(moved.params).filter((k) => k.endsWith(RESIDUAL_PROJECTION))).toEqual([
      name(0),
    ]);
    expect(read(moved.params[name(0)]!)).toEqual(Float64Array.from(projection(0)));
  } finally {
    tree.dispose([whole.params, moved.params]);
  }
});

test.each([
  [
    "a",
    "plain",
    /^model .*\/a holds model\.layers\.1\.inlp_projection .* and model .*\/plain has none at that layer; .*rankwise edit inlp --fold$/,
  ],
  [
    "a",
    "c",
    /^model .*\/a holds model\.layers\.1\.inlp_projection .* and model .*\/c holds a different one at that layer; .*rankwise edit inlp --fold$/,
  ],
])("%s with %s: refused with one line, nothing written", async (x, y, message) => {
  const out = join(tmp, `refused-${y}`);
  await expect(runMerge(linear(x, y), { out })).rejects.toThrow(message);
  expect(existsSync(out)).toBe(false);
});
