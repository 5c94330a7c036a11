/**
 * Every kind of merge input is streamed tensor by tensor (src/weights/merge/source-*.ts) and
 * gives the weights the whole-model readers give: a quantised folder (4- and 8-bit) as loadModel
 * dequantises it, a factored folder as densifyLowRank, a training run's checkpoint as loadModel,
 * `model+adapter` and a fine-tuning run as PEFT's merge (test/fixtures/peft*: LoRA with an
 * embedding and modules_to_save, DoRA, LoHa). A linear merge of one model with weight 1 writes
 * that model's weights, so the output is compared with the reference directly. While merging,
 * no input array outlives its tensor: the live wasm buffers never exceed the adapter's own
 * tensors (loading a model whole would keep all its tensors alive).
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CharTokenizer } from "../../src/data/tokenizer.js";
import { tokenizerFiles } from "../../src/data/tokenizer-file.js";
import * as tree from "../../src/engine/tree.js";
import { loadSafetensors } from "../../src/io/safetensors.js";
import type { LlamaConfig } from "../../src/nn/llama-config.js";
import { densifyLowRank, LOW_RANK_A, LOW_RANK_B } from "../../src/nn/low-rank.js";
import { loadModel, saveModel } from "../../src/nn/pretrained.js";
import { newMeta, saveCheckpoint, writeCheckpointFolder } from "../../src/train/checkpoint.js";
import type { TrainConfig } from "../../src/train/config.js";
import { saveCompressedModel } from "../../src/weights/compress/folder.js";
import { runMerge } from "../../src/weights/merge/run.js";
import { saveQuantizedModel } from "../../src/weights/quantize/folder.js";
import type { QuantBits } from "../../src/weights/quantize/grid.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";

const PEFT = resolve("test/fixtures/peft");
const BASE = join(PEFT, "base");
let tmp: string;
let base: { config: LlamaConfig; params: Record<string, np.Array> };

beforeAll(async () => {
  await setup();
  tmp = mkdtempSync(join(tmpdir(), "rankwise-merge-sources-"));
  base = (await loadModel(BASE)) as typeof base;
});
afterAll(() => {
  tree.dispose(base.params);
  rmSync(tmp, { recursive: true, force: true });
});

let runs = 0;
/** Merge `model` alone (linear, weight 1); the merged weights and the most live buffers seen. */
async function mergeAlone(model: string) {
  const out = join(tmp, `out-${runs++}`);
  const before = await liveBuffers();
  const during: Promise<number>[] = [];
  await runMerge(
    `merge_method: linear\nmodels:\n  - model: ${model}\n    parameters: {weight: 1}\n`,
    {
      out,
      onTensor: () => during.push(liveBuffers()),
    },
  );
  const peakLive = Math.max(...(await Promise.all(during))) - before;
  expect(await liveBuffers()).toBe(before);
  const merged = await loadModel(out);
  return { out, params: merged.params, peakLive };
}

function expectClose(
  got: Record<string, np.Array>,
  want: Record<string, np.Array>,
  names = Object.keys(want),
  tol = 1e-6,
) {
  expect(names.length).toBeGreaterThan(0);
  for (const name of names) {
    expect(got[name]?.shape, name).toEqual(want[name]!.shape);
    const x = read(got[name]!);
    const y = read(want[name]!);
    let m = 0;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
    expect(m, name).toBeLessThanOrEqual(tol);
  }
}

/** A seeded matrix on the host (Park–Miller), for codes and factors. */
function lcg(seed: number) {
  let s = seed;
  return () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
}

/** Random codes and scales for base weight `name` (groups of 8 inputs). */
function quantizedMatrix(name: string, bits: QuantBits, rand: () => number) {
  const [rows, cols] = base.params[name]!.shape as [number, number];
  const groupSize = 8;
  return {
    rows,
    cols,
    bits,
    groupSize,
    codes: Uint8Array.from({ length: rows * cols }, () => Math.floor(rand() * 2 ** bits)),
    scales: Float32Array.from({ length: (rows * cols) / groupSize }, () => rand() / 8),
  };
}

const randomMatrix = (rows: number, cols: number, rand: () => number) =>
  np.array(
    Float32Array.from({ length: rows * cols }, () => rand() - 0.5),
    {
      shape: [rows, cols],
    },
  );

describe.each([4, 8] as QuantBits[])("a %d-bit quantised folder", (bits) => {
  test("is dequantised one tensor at a time, as loadModel does", async () => {
    const dir = join(tmp, `quantized-${bits}`);
    const rand = lcg(bits);
    const quantized = Object.fromEntries(
      ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.down_proj.weight"].map(
        (name) => [name, quantizedMatrix(name, bits, rand)],
      ),
    );
    await saveQuantizedModel(dir, {
      config: base.config,
      params: base.params,
      quantized,
      settings: { method: "rtn", bits, groupSize: 8 },
    });
    const want = await loadModel(dir);
    const got = await mergeAlone(dir);
    try {
      expectClose(got.params, want.params);
      expect(got.peakLive).toBeLessThanOrEqual(0);
    } finally {
      tree.dispose([got.params, want.params]);
    }
  });
});

test("a factored folder is densified one module at a time (W + B·A, or B·A alone)", async () => {
  const dir = join(tmp, "factored");
  const rand = lcg(3);
  const params: Record<string, np.Array> = { ...base.params };
  const factor = (module: string, keepDense: boolean) => {
    const [out, inp] = base.params[`${module}.weight`]!.shape as [number, number];
    params[`${module}.${LOW_RANK_A}`] = randomMatrix(3, inp, rand);
    params[`${module}.${LOW_RANK_B}`] = randomMatrix(out, 3, rand);
    if (!keepDense) delete params[`${module}.weight`];
  };
  factor("model.layers.0.self_attn.q_proj", true);
  factor("model.layers.1.mlp.up_proj", false);
  await saveModel(dir, { config: base.config, params });
  for (const [k, a] of Object.entries(params)) if (!(k in base.params)) a.dispose();
  const want = densifyLowRank((await loadModel(dir)).params);
  const got = await mergeAlone(dir);
  try {
    expectClose(got.params, want, undefined, 1e-5);
    expect(got.peakLive).toBeLessThanOrEqual(0);
  } finally {
    tree.dispose([got.params, want]);
  }
});

test("a quantised weight with a low-rank correction (LQER's layout) is Ŵ + B·A", async () => {
  const dir = join(tmp, "lqer");
  const module = "model.layers.0.mlp.down_proj";
  const rand = lcg(5);
  const q = quantizedMatrix(`${module}.weight`, 4, rand);
  const factors = {
    [`${module}.${LOW_RANK_A}`]: randomMatrix(2, q.cols, rand),
    [`${module}.${LOW_RANK_B}`]: randomMatrix(q.rows, 2, rand),
  };
  await saveCompressedModel(dir, base.config, {
    params: { ...base.params, ...factors },
    quantized: { [`${module}.weight`]: q },
    quantization: { bits: 4, groupSize: 8 },
  });
  tree.dispose(factors);
  const want = densifyLowRank((await loadModel(dir)).params);
  const got = await mergeAlone(dir);
  try {
    expectClose(got.params, want, undefined, 1e-5);
    expect(got.peakLive).toBeLessThanOrEqual(0);
  } finally {
    tree.dispose([got.params, want]);
  }
});

const tokenizer = CharTokenizer.fromText("merge me");
const meta = (config: unknown) =>
  newMeta({
    step: 3,
    config: config as TrainConfig,
    tokenizer: tokenizer.toJSON(),
    sampler: { seed: 0, position: 0, rng: [1, 2, 3, 4] },
    elapsed: 0,
  });

describe("a training run folder", () => {
  let run: string;
  beforeAll(async () => {
    run = join(tmp, "run");
    await saveCheckpoint(run, {
      meta: meta({}),
      modelConfig: base.config,
      params: base.params,
      optState: {},
    });
  });

  test("is its checkpoint streamed, with the run's tokenizer", async () => {
    const got = await mergeAlone(run);
    try {
      expectClose(got.params, base.params, undefined, 0);
      expect(got.peakLive).toBeLessThanOrEqual(0);
      expect(JSON.parse(readFileSync(join(got.out, "tokenizer.json"), "utf8"))).toEqual(
        JSON.parse(readFileSync(join(run, "checkpoint", "tokenizer.json"), "utf8")),
      );
    } finally {
      tree.dispose(got.params);
    }
  });

  test("a damaged checkpoint is one line naming the file", async () => {
    const damaged = join(tmp, "run-damaged");
    cpSync(run, damaged, { recursive: true });
    const weights = join(damaged, "checkpoint", "model.safetensors");
    const bytes = readFileSync(weights);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(weights, bytes);
    await expect(
      runMerge(`merge_method: linear\nmodels:\n  - model: ${damaged}\n`, {
        out: join(tmp, "never"),
      }),
    ).rejects.toThrow(
      /^corrupt checkpoint: .*model\.safetensors does not match its SHA-256 in the manifest/,
    );
  });
});

describe("adapters are merged into each tensor as it is read", () => {
  test.each([
    [join(PEFT, "lora"), "PEFT's LoRA (embedding, modules_to_save)"],
    [join(PEFT, "dora"), "PEFT's DoRA"],
    [resolve("test/fixtures/peft-types/loha"), "LoHa"],
  ])("model+adapter %s equals %s merge", async (adapter) => {
    const expected = (await loadSafetensors(join(adapter, "expected.safetensors"))).tensors;
    const want: Record<string, np.Array> = {};
    // PEFT's fixtures hold the merged weights bare (beside grad.*), the types' under merged.*.
    const typed = Object.keys(expected).some((k) => k.startsWith("merged."));
    for (const [k, a] of Object.entries(expected)) {
      if (typed ? k.startsWith("merged.") : !k.startsWith("grad.")) {
        want[k.replace(/^merged\./, "")] = a;
      }
    }
    const got = await mergeAlone(`${BASE}+${adapter}`);
    try {
      expectClose(got.params, want, undefined, 1e-5);
      // The adapter's tensors stay loaded; no base or merged tensor does.
      const loaded = await loadSafetensors(join(adapter, "adapter_model.safetensors"));
      const held = Object.keys(loaded.tensors).length;
      tree.dispose(loaded.tensors);
      expect(got.peakLive).toBeLessThanOrEqual(held);
    } finally {
      tree.dispose([got.params, expected]);
    }
  });

  test("a fine-tuning run folder is its base with its adapter, and the run's tokenizer", async () => {
    const run = join(tmp, "finetune-run");
    cpSync(join(PEFT, "lora"), join(run, "adapter"), { recursive: true });
    await writeCheckpointFolder(
      run,
      meta({ finetune: { base: { path: BASE } } }),
      ["trainer.json"],
      async () => {},
    );
    mkdirSync(join(run, "checkpoint"), { recursive: true });
    const want = (await loadSafetensors(join(PEFT, "lora", "expected.safetensors"))).tensors;
    const got = await mergeAlone(run);
    try {
      const names = Object.keys(want).filter((k) => !k.startsWith("grad."));
      expectClose(got.params, want, names, 1e-5);
      expect(readFileSync(join(got.out, "tokenizer.json"), "utf8")).toBe(
        tokenizerFiles(tokenizer.toJSON())["tokenizer.json"],
      );
    } finally {
      tree.dispose([got.params, want]);
    }
  });
});

test("a stored layout that does not fit its config is one line naming the tensor", async () => {
  const edited = (from: string, name: string, edit: (json: Record<string, any>) => void) => {
    const dir = join(tmp, name);
    cpSync(join(tmp, from), dir, { recursive: true });
    const json = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    edit(json);
    writeFileSync(join(dir, "config.json"), JSON.stringify(json));
    return dir;
  };
  const merge = (dir: string) =>
    runMerge(`merge_method: linear\nmodels:\n  - model: ${dir}\n`, { out: join(dir, "out") });
  const rank = edited("factored", "bad-rank", (j) => {
    j.rankwise_low_rank["model.layers.1.mlp.up_proj"] = 2;
  });
  await expect(merge(rank)).rejects.toThrow(
    /^model .*bad-rank: config\.json rankwise_low_rank records rank 2 for model\.layers\.1\.mlp\.up_proj, its factors have rank 3$/,
  );
  const bits = edited("quantized-4", "bad-bits", (j) => {
    j.quantization_config.bits = 8;
  });
  await expect(merge(bits)).rejects.toThrow(
    /^model .*bad-bits: model\.layers\.0\.self_attn\.q_proj\.weight: a 8-bit weight must be stored as I8 \[16,16\], got U8 \[16,8\]$/,
  );
});
