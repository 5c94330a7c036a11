/**
 * Calibration on a model with a stored residual projection (`edit inlp` without --fold,
 * `model.layers.<L>.inlp_projection`): the block pass applies it after block L, so the measured
 * inputs of blocks L+1… equal those llamaForward's capture hook sees (the model's real forward),
 * and differ from a pass that would skip the projection; no arrays leak.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { initLlama, llamaForward, RESIDUAL_PROJECTION } from "../../src/nn/llama.js";
import { llamaConfig } from "../../src/nn/llama-config.js";
import { BLOCK_LINEARS, calibrateBlocks } from "../../src/weights/calibration.js";
import type { InputStats } from "../../src/weights/prune/types.js";
import { closeness, liveBuffers, read, setup } from "../helpers/engine.js";

beforeAll(setup);

const config = llamaConfig({
  vocab_size: 13,
  hidden_size: 8,
  intermediate_size: 12,
  num_hidden_layers: 3,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  max_position_embeddings: 16,
});
const d = config.hidden_size;
const samples = 4;
const seqLen = 6;
const tokens = Int32Array.from({ length: samples * seqLen }, (_, i) => (i * 5 + 2) % 13);

/** INLP's P = I − B Bᵀ for the orthonormal pair B = [e₀ + e₁, e₂ − e₃] / √2 (closed form). */
function projection(): np.Array {
  const p = new Float32Array(d * d);
  for (let j = 0; j < d; j++) p[j * d + j] = 1;
  for (const [a, b, s] of [
    [0, 1, 1],
    [2, 3, -1],
  ]) {
    p[a * d + a] -= 0.5;
    p[b * d + b] -= 0.5;
    p[a * d + b] -= 0.5 * s;
    p[b * d + a] -= 0.5 * s;
  }
  return np.array(p).reshape([d, d]);
}

/** Σ x² per feature and XᵀX of llamaForward's captured inputs of block `layer`. */
function captured(params: Record<string, np.Array>, layer: number) {
  const seen = new Map<string, np.Array>();
  llamaForward(
    tree.share(params),
    np.array(tokens, { shape: [samples, seqLen], dtype: np.int32 }),
    config,
    (m, x) => (m.startsWith(`model.layers.${layer}.`) ? seen.set(m, x) : x.dispose()),
  ).dispose();
  const out = new Map<string, { sq: Float64Array; gram: Float64Array }>();
  for (const [m, x] of seen) {
    const [n, w] = x.shape as [number, number]; // w: hidden, or intermediate for down_proj
    const data = read(x);
    const sq = new Float64Array(w);
    const gram = new Float64Array(w * w);
    for (let t = 0; t < n; t++) {
      for (let j = 0; j < w; j++) {
        sq[j] += data[t * w + j]! ** 2;
        for (let k = 0; k < w; k++) gram[j * w + k] += data[t * w + j]! * data[t * w + k]!;
      }
    }
    out.set(m, { sq, gram });
  }
  return out;
}

test("a stored projection after block 0 is in the inputs block 1 and 2 are measured on", async () => {
  const params = initLlama(config, 7);
  for (const k of Object.keys(params))
    if (k.endsWith("_proj.weight")) params[k] = params[k].mul(10);
  const plain = tree.share(params);
  params[`model.layers.0.${RESIDUAL_PROJECTION}`] = projection();

  const seen: Map<string, InputStats>[] = [];
  const keep = (i: number, stats: Map<string, InputStats>) => {
    seen[i] = stats;
    return {};
  };
  const before = await liveBuffers();
  const copy = tree.share(params);
  calibrateBlocks(copy, config, tokens, { samples, seqLen }, keep, { gram: true, batch: 3 });
  tree.dispose(copy);
  expect(await liveBuffers()).toBe(before);

  for (const layer of [1, 2]) {
    const want = captured(params, layer);
    const without = captured(plain, layer);
    for (const m of BLOCK_LINEARS) {
      const name = `model.layers.${layer}.${m}`;
      const got = seen[layer]!.get(name)!;
      const ref = want.get(name)!;
      expect(closeness(got.sqNorm, ref.sq, 1e-4, 1e-5).ratio, name).toBeLessThanOrEqual(1);
      expect(closeness(got.gram!, ref.gram, 1e-4, 1e-5).ratio, name).toBeLessThanOrEqual(1);
      // The projection matters here: without it the inputs are far from these.
      expect(closeness(got.gram!, without.get(name)!.gram, 1e-2, 1e-3).ratio, name).toBeGreaterThan(
        1,
      );
    }
  }
  tree.dispose([params, plain]);
});
