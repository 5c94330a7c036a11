/**
 * Pruning against tools/fixtures/pruning_reference.py (PyTorch, written from locuslab/wanda and
 * IST-DASLab/sparsegpt): same model, same calibration tokens, block by block. Masks agree on
 * ≥ 99.9% of entries, SparseGPT's updated weights within 1e-4; magnitude and Wanda keep the
 * surviving weights bit for bit. Pattern properties: exact per-row counts (Wanda), N of every M
 * zero (N:M), untouched embeddings, norms and head.
 */
import { readFileSync } from "node:fs";
import type { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { loadSafetensors } from "../../src/io/safetensors.js";
import type { LlamaConfig } from "../../src/nn/llama-config.js";
import { loadModel } from "../../src/nn/pretrained.js";
import { PRUNE_METHODS, pruneModel } from "../../src/weights/prune/index.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";

const DIR = new URL("../fixtures/prune/", import.meta.url).pathname;
const calib = JSON.parse(readFileSync(`${DIR}calibration.json`, "utf8")) as {
  samples: number;
  seqLen: number;
  tokens: number[];
  cases: { name: string; method: string; sparsity: number; nm: [number, number] | null }[];
};

let config: LlamaConfig;
let params: Record<string, np.Array>;
let expected: Record<string, np.Array>;

beforeAll(async () => {
  await setup();
  const model = await loadModel(`${DIR}model`);
  config = model.config as LlamaConfig;
  params = model.params;
  expected = (await loadSafetensors(`${DIR}expected.safetensors`)).tensors;
});

const isDecoderLinear = (name: string) => /\.layers\.\d+\..*_proj\.weight$/.test(name);

function runCase(c: (typeof calib.cases)[number]) {
  return pruneModel(tree.ref(params), config, PRUNE_METHODS[c.method], {
    sparsity: c.sparsity,
    nm: c.nm ?? undefined,
    calibration: {
      tokens: Int32Array.from(calib.tokens),
      samples: calib.samples,
      seqLen: calib.seqLen,
    },
    batch: 3, // chunks of 3, 3, 2 sequences: chunking must change nothing
  });
}

describe.each(calib.cases)("$name", (c) => {
  test("matches the PyTorch reference", async () => {
    const before = await liveBuffers();
    const { params: pruned, summary } = runCase(c);
    let agree = 0;
    let total = 0;
    let worst = 0;
    for (const [name, w] of Object.entries(pruned)) {
      const got = read(w);
      const original = read(params[name]);
      if (!isDecoderLinear(name)) {
        expect(got, `${name} untouched`).toEqual(original);
        continue;
      }
      const want = read(expected[`${c.name}/${name}`]);
      for (let i = 0; i < want.length; i++) {
        if ((got[i] === 0) === (want[i] === 0)) agree++;
        worst = Math.max(worst, Math.abs(got[i] - want[i]));
        // Magnitude and Wanda only zero entries: survivors are the original weights.
        if (c.method !== "sparsegpt" && got[i] !== 0) expect(got[i]).toBe(original[i]);
      }
      total += want.length;
    }
    expect(agree / total).toBeGreaterThanOrEqual(0.999);
    if (c.method === "sparsegpt") expect(worst).toBeLessThanOrEqual(1e-4);
    expect(summary.layers.reduce((s, l) => s + l.zeros, 0) / total).toBeCloseTo(
      summary.achieved,
      12,
    );
    tree.dispose(pruned);
    expect(await liveBuffers()).toBe(before);
  });
});

test("pattern properties: exact per-row sparsity (Wanda, DSnoT) and valid N:M groups", () => {
  for (const [method, sparsity, nm] of [
    ["wanda", 0.3, undefined],
    ["wanda", 0.5, [4, 8]],
    ["sparsegpt", 0.5, [2, 4]],
    ["magnitude", 0.5, [2, 4]],
    ["dsnot", 0.5, [2, 4]],
    ["dsnot", 0.3, undefined],
  ] as const) {
    const { params: pruned } = runCase({ name: "", method, sparsity, nm: nm ? [...nm] : null });
    for (const [name, w] of Object.entries(pruned)) {
      if (!isDecoderLinear(name)) continue;
      const [rows, cols] = w.shape;
      const data = read(w);
      for (let r = 0; r < rows; r++) {
        const row = data.subarray(r * cols, (r + 1) * cols);
        if (nm) {
          for (let g = 0; g < cols; g += nm[1]) {
            const zeros = row.subarray(g, g + nm[1]).filter((v) => v === 0).length;
            expect(zeros, `${method} ${name} row ${r} group ${g}`).toBe(nm[0]);
          }
        } else {
          const zeros = row.filter((v) => v === 0).length;
          expect(zeros, `${name} row ${r}`).toBe(Math.floor(cols * sparsity));
        }
      }
    }
    tree.dispose(pruned);
  }
});

test("bad settings are one RangeError each, and nothing leaks", async () => {
  const before = await liveBuffers();
  const bad: [string, number, [number, number] | undefined, RegExp][] = [
    ["magnitude", 1, undefined, /sparsity must be a number in \[0, 1\)/],
    ["wanda", -0.1, undefined, /sparsity must be/],
    ["wanda", 0.5, [4, 4], /1 ≤ N < M/],
    ["wanda", 0.5, [3, 7], /multiples of 7; hidden_size is 16/],
  ];
  for (const [method, sparsity, nm, message] of bad) {
    expect(() =>
      pruneModel(tree.ref(params), config, PRUNE_METHODS[method], { sparsity, nm }),
    ).toThrow(message);
  }
  expect(() =>
    pruneModel(tree.ref(params), config, PRUNE_METHODS.wanda, { sparsity: 0.5 }),
  ).toThrow(/needs calibration/);
  expect(await liveBuffers()).toBe(before);
});
