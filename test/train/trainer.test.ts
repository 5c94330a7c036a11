/**
 * The training loop as a library (`train()`): what metrics.jsonl holds, checked against closed
 * forms and against the model's loss computed on its own (same data pipeline, eager jax-js):
 * row fields, the warm-up schedule (and that the optimizer really used it), validation loss,
 * perplexity and bits per character, the optimizer-state size, gradient norm, and gradient
 * accumulation (k micro-batches of B = one batch of k·B).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type numpy as np, valueAndGrad } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { loadCorpus } from "../../src/data/corpus.js";
import { BatchSampler, validationBatches } from "../../src/data/sampler.js";
import { splitTokens } from "../../src/data/split.js";
import { buildTokenizer } from "../../src/data/tokenizer.js";
import * as tree from "../../src/engine/tree.js";
import { initLlama, type LlamaParams, llamaLoss, llamaParamCount } from "../../src/nn/llama.js";
import type { LlamaConfig } from "../../src/nn/llama-config.js";
import { type Checkpoint, loadCheckpoint } from "../../src/train/checkpoint.js";
import { type TrainConfig, validateConfig } from "../../src/train/config.js";
import { readMetrics } from "../../src/train/metrics.js";
import { train } from "../../src/train/trainer.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "rankwise-trainer-"));

let corpus: string; // a 20 000-character text file
let trainTokens: Int32Array;
let valTokens: Int32Array;

beforeAll(async () => {
  await setup();
  const text = loadCorpus("moby-dick").text.slice(0, 20_000);
  corpus = join(tempDir(), "corpus.txt");
  writeFileSync(corpus, text);
  // The trainer's data pipeline: char tokenizer over the text, 10 % held out at the end.
  const tokens = buildTokenizer("char", text).encode(text);
  ({ train: trainTokens, val: valTokens } = splitTokens(tokens, { valFraction: 0.1 }));
});

const BASE = { model: "tiny", seqLen: 16, batchSize: 4, sampleLength: 0, seed: 9, logEvery: 1 };

async function run(options: Record<string, unknown>) {
  const config = validateConfig({ ...BASE, data: corpus, ...options });
  const out = tempDir();
  const result = await train({ config, out, quiet: true });
  const rows = readMetrics(join(out, "metrics.jsonl"));
  return { config, out, result, rows, train: rows.filter((r) => r.type === "train") as any[] };
}

const dispose = (ck: Checkpoint) => {
  tree.dispose(ck.params);
  tree.dispose(ck.optState);
};

/** Mean token cross-entropy of the model on the batches of `sampler` (eager, not the jit). */
function loss(params: LlamaParams, inputs: np.Array, targets: np.Array, config: LlamaConfig) {
  return read(llamaLoss(tree.ref(params), inputs, targets, config))[0]!;
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe("metrics rows", () => {
  let r: Awaited<ReturnType<typeof run>>;
  let ck: Checkpoint;
  const peak = 0.01;
  const warmup = 4;

  beforeAll(async () => {
    r = await run({ steps: 6, lr: peak, warmup, evalEvery: 3, sampleLength: 5 });
    ck = await loadCheckpoint(r.out);
  });

  test("train rows carry step, loss, lr, gradNorm, tokensPerSec, elapsed, stateBytes", () => {
    expect(r.train.map((row) => row.step)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const row of r.train) {
      for (const key of ["loss", "lr", "gradNorm", "tokensPerSec", "elapsed", "stateBytes"]) {
        expect(typeof row[key], key).toBe("number");
        expect(Number.isFinite(row[key]), key).toBe(true);
      }
      expect(row.tokensPerSec).toBeGreaterThan(0);
      expect(row.gradNorm).toBeGreaterThan(0);
    }
    const elapsed = r.train.map((row) => row.elapsed);
    expect([...elapsed].sort((a, b) => a - b)).toEqual(elapsed);
    expect(r.result.step).toBe(6);
    expect(r.result.trainLoss).toBe(r.train.at(-1).loss);
  });

  test("lr follows the linear warm-up to the peak (closed form at the optimizer's count)", () => {
    for (const row of r.train) {
      const count = row.step - 1;
      const expected = count < warmup ? (peak * count) / warmup : peak;
      expect(Math.abs(row.lr - expected), `step ${row.step}`).toBeLessThan(1e-15);
    }
  });

  test("AdamW's state is two float32 copies of the parameters", () => {
    const params = llamaParamCount(ck.modelConfig);
    for (const row of r.train) expect(row.stateBytes).toBe(2 * 4 * params);
    expect(r.result.stateBytes).toBe(2 * 4 * params);
  });

  test("eval rows: valLoss over the validation windows, perplexity = e^valLoss, bits/char", () => {
    const evals = r.rows.filter((row) => row.type === "eval") as any[];
    expect(evals.map((row) => row.step)).toEqual([3, 6]);
    for (const row of evals) {
      expect(row.perplexity).toBeCloseTo(Math.exp(row.valLoss), 10);
      // Character tokenizer: one token per character.
      expect(row.bitsPerChar).toBeCloseTo(row.valLoss / Math.LN2, 10);
    }
    // The last evaluation is of the checkpointed parameters: recompute it on its own.
    let total = 0;
    let batches = 0;
    for (const batch of validationBatches(valTokens, {
      batchSize: r.config.batchSize,
      seqLen: r.config.seqLen,
      maxBatches: r.config.evalBatches,
    })) {
      expect(batch.starts.length).toBe(r.config.batchSize);
      total += loss(ck.params, batch.inputs, batch.targets, ck.modelConfig);
      batches++;
    }
    expect(batches).toBeGreaterThan(0);
    expect(rel(evals[1].valLoss, total / batches)).toBeLessThan(1e-5);
    expect(r.result.valLoss).toBe(evals[1].valLoss);
  });

  test("a sample row closes the run; it continues the start of the validation text", () => {
    const last = r.rows.at(-1) as any;
    expect(last.type).toBe("sample");
    expect(last.step).toBe(6);
    expect(typeof last.text).toBe("string");
    expect(last.text.length).toBe(5);
    // Half the 16-token window of validation text (char tokenizer: 8 characters).
    const text = loadCorpus("moby-dick").text.slice(0, 20_000);
    expect(last.prompt).toBe(text.slice(text.length - valTokens.length).slice(0, 8));
    expect(r.result.prompt).toBe(last.prompt);
  });

  test("a start row opens the run with every resolved default", () => {
    const start = r.rows[0] as any;
    expect(start).toMatchObject({ type: "start", step: 0, model: "tiny", optimizer: "adamw" });
    expect([start.learningRate, start.learningRateSource]).toEqual([peak, "--lr"]);
    // AdamW's options as PyTorch defines them, none given by the run.
    expect(start.optimizerOptions).toMatchObject({ b1: 0.9, b2: 0.999, eps: 1e-8 });
    expect(start.parameters).toBe(llamaParamCount(ck.modelConfig));
    expect([start.trainTokens, start.valTokens]).toEqual([trainTokens.length, valTokens.length]);
    expect(start.config).toEqual(JSON.parse(JSON.stringify(r.config)));
    expect(r.rows.filter((row) => row.type === "start")).toHaveLength(1);
  });

  test("the checkpoint holds the final step and the run's configuration", () => {
    expect(ck.meta.step).toBe(6);
    expect(ck.meta.config).toEqual(JSON.parse(JSON.stringify(r.config)) as TrainConfig);
    expect(ck.meta.sampler.position).toBe(6);
  });
});

describe("first step, recomputed on its own", () => {
  test("step 1 runs at learning rate 0 under warm-up: the parameters stay the initial ones", async () => {
    const r = await run({ steps: 1, warmup: 5 });
    expect(r.train[0].lr).toBe(0);
    const ck = await loadCheckpoint(r.out);
    const init = initLlama(ck.modelConfig, BASE.seed);
    for (const name of Object.keys(init)) {
      expect(read(ck.params[name]!), name).toEqual(read(init[name]!));
    }
    // Its loss and gradient norm are those of the initial model on the sampler's first batch.
    const batch = new BatchSampler(trainTokens, {
      batchSize: 4,
      seqLen: 16,
      seed: BASE.seed,
    }).next();
    const [value, grads] = valueAndGrad((p: LlamaParams) =>
      llamaLoss(p, batch.inputs.ref, batch.targets.ref, ck.modelConfig),
    )(tree.ref(init));
    const norm = Math.sqrt(
      tree
        .leaves(grads as LlamaParams)
        .reduce((s, g) => s + read(g).reduce((a, x) => a + x * x, 0), 0),
    );
    expect(rel(r.train[0].loss, read(value)[0]!)).toBeLessThan(1e-6);
    expect(rel(r.train[0].gradNorm, norm)).toBeLessThan(1e-5);
    value.dispose();
    tree.dispose(grads as LlamaParams);
    tree.dispose(init);
    batch.inputs.dispose();
    batch.targets.dispose();
    dispose(ck);
  });
});

describe("gradient accumulation", () => {
  test("2 micro-batches of 2 = the mean of their losses, and the same run as batches of 4", async () => {
    const common = { steps: 3, warmup: 0, lr: 0.01 };
    const accumulated = await run({ ...common, batchSize: 2, accumulate: 2 });
    const whole = await run({ ...common, batchSize: 4, accumulate: 1 });

    // Step 1: the mean of the two micro-batch losses of the initial model.
    const ck = await loadCheckpoint(accumulated.out);
    const init = initLlama(ck.modelConfig, BASE.seed);
    const sampler = new BatchSampler(trainTokens, { batchSize: 2, seqLen: 16, seed: BASE.seed });
    const micro = [sampler.next(), sampler.next()].map((b) =>
      loss(init, b.inputs, b.targets, ck.modelConfig),
    );
    expect(rel(accumulated.train[0].loss, (micro[0]! + micro[1]!) / 2)).toBeLessThan(1e-6);
    // The state adds one running sum of the gradients to AdamW's two moments.
    expect(accumulated.train[0].stateBytes).toBe(3 * 4 * llamaParamCount(ck.modelConfig));
    expect(ck.meta.sampler.position).toBe(6); // two micro-batches per step
    tree.dispose(init);
    dispose(ck);

    // Two micro-batches of 2 draw the same windows as one batch of 4, and the mean of the two
    // gradients is the gradient of the mean: the runs agree up to float rounding.
    for (let i = 0; i < 3; i++) {
      expect(rel(accumulated.train[i].loss, whole.train[i].loss), `step ${i + 1}`).toBeLessThan(
        1e-5,
      );
    }
    expect(accumulated.train[2].loss).not.toBe(accumulated.train[0].loss);
  });
});

test("train() leaves no device buffers behind", async () => {
  const before = await liveBuffers();
  await run({ steps: 2, evalEvery: 1, sampleLength: 3 });
  expect(await liveBuffers()).toBe(before);
});
