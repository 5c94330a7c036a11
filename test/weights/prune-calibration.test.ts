/**
 * Calibration: sequences are drawn reproducibly from the training part of the stream only; the
 * block-by-block pass measures each block's layer inputs with the blocks before it already
 * replaced — checked against llamaForward's capture hook run on the updated model (an independent
 * path through the whole decoder), and it leaves embeddings, norms and head alone.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { initLlama, llamaForward } from "../../src/nn/llama.js";
import { llamaConfig } from "../../src/nn/llama-config.js";
import {
  BLOCK_LINEARS,
  calibrateBlocks,
  calibrationTokens,
} from "../../src/weights/calibration.js";
import type { InputStats } from "../../src/weights/prune/types.js";
import { closeness, liveBuffers, read, setup } from "../helpers/engine.js";

beforeAll(setup);

test("calibration sequences: seeded windows of the training split", () => {
  const stream = Int32Array.from({ length: 1000 }, (_, i) => i);
  const spec = { samples: 50, seqLen: 7, seed: 3 };
  const a = calibrationTokens(stream, spec);
  expect(a).toHaveLength(50 * 7);
  expect(calibrationTokens(stream, spec)).toEqual(a);
  expect(calibrationTokens(stream, { ...spec, seed: 4 })).not.toEqual(a);
  for (let s = 0; s < 50; s++) {
    const w = a.subarray(s * 7, s * 7 + 7);
    for (let j = 1; j < 7; j++) expect(w[j]).toBe(w[0] + j); // contiguous windows
    expect(w[6]).toBeLessThan(900); // never in the validation tenth
  }
  expect(() => calibrationTokens(stream.subarray(0, 5), spec)).toThrow(/fewer than one sequence/);
});

const config = llamaConfig({
  vocab_size: 13,
  hidden_size: 8,
  intermediate_size: 12,
  num_hidden_layers: 3,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  max_position_embeddings: 16,
});

test("block by block: each block sees the blocks before it as updated", async () => {
  const params = initLlama(config, 5);
  // Larger weights than the init, so that halving a block visibly changes what follows.
  for (const k of Object.keys(params))
    if (k.endsWith("_proj.weight")) params[k] = params[k].mul(20);
  const original = tree.share(params);
  const samples = 5;
  const seqLen = 6;
  const tokens = Int32Array.from({ length: samples * seqLen }, (_, i) => (i * 7 + 3) % 13);
  const seen: Map<string, InputStats>[] = [];
  const halve = (i: number, stats: Map<string, InputStats>) => {
    seen[i] = stats;
    // The "pruning": halve every linear weight of the block.
    const out: Record<string, np.Array> = {};
    for (const m of BLOCK_LINEARS) {
      const key = `model.layers.${i}.${m}.weight`;
      out[key] = params[key].ref.mul(0.5);
    }
    return out;
  };
  // A second pass over a copy holds as many buffers as the first: nothing leaks per pass.
  const copy = tree.share(params);
  calibrateBlocks(copy, config, tokens, { samples, seqLen }, halve, { gram: true, batch: 2 });
  tree.dispose(copy);
  const before = await liveBuffers();
  const again = tree.share(params);
  calibrateBlocks(again, config, tokens, { samples, seqLen }, halve, { gram: true, batch: 2 });
  tree.dispose(again);
  expect(await liveBuffers()).toBe(before);

  calibrateBlocks(params, config, tokens, { samples, seqLen }, halve, { gram: true, batch: 2 });

  // Reference: for block i, llamaForward's capture on the model whose blocks < i are updated and
  // blocks ≥ i are not (one measuring pass per block, before its own update, as the reference).
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const mixed: Record<string, np.Array> = {};
    for (const [k, v] of Object.entries(original)) {
      const layer = /^model\.layers\.(\d+)\./.exec(k);
      mixed[k] = (layer && Number(layer[1]) < i ? params[k] : v).ref;
    }
    const captured = new Map<string, np.Array>();
    llamaForward(
      mixed,
      np.array(tokens, { shape: [samples, seqLen], dtype: np.int32 }),
      config,
      (m, x) => captured.set(m, x),
    ).dispose();
    for (const m of BLOCK_LINEARS) {
      const name = `model.layers.${i}.${m}`;
      const x = captured.get(name) as np.Array;
      const [n, d] = x.shape;
      const data = read(x);
      const sq = new Float64Array(d);
      const gram = new Float64Array(d * d);
      for (let t = 0; t < n; t++) {
        for (let j = 0; j < d; j++) {
          sq[j] += data[t * d + j] ** 2;
          for (let k = 0; k < d; k++) gram[j * d + k] += data[t * d + j] * data[t * d + k];
        }
      }
      const got = seen[i].get(name) as InputStats;
      expect(got.samples).toBe(samples);
      expect(got.tokens).toBe(samples * seqLen);
      expect(closeness(got.sqNorm, sq, 1e-4, 1e-5).ratio, name).toBeLessThanOrEqual(1);
      expect(closeness(got.gram as Float64Array, gram, 1e-4, 1e-5).ratio, name).toBeLessThanOrEqual(
        1,
      );
    }
    for (const x of captured.values()) x.dispose();
  }
  // Only the returned decoder weights changed.
  for (const [k, v] of Object.entries(original)) {
    const want = read(v);
    expect(read(params[k]), k).toEqual(
      k.endsWith("_proj.weight") ? want.map((w) => Math.fround(w * 0.5)) : want,
    );
  }
  tree.dispose([original, params]);
});
