/**
 * Divergence in the library (`train()`): a step whose gradient is not finite is skipped and
 * leaves the parameters and the optimizer state exactly as they were — the checkpoint after
 * "2 good steps + 1 skipped" holds the very bytes of the checkpoint after 2 steps, with and
 * without gradient accumulation (a bad second micro-batch must undo the first one's sum) — and
 * `maxBadSteps` skips in a row stop the run with a DivergedError that leaves the last good
 * checkpoint and no device buffers behind.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { loadCorpus } from "../../src/data/corpus.js";
import * as tree from "../../src/engine/tree.js";
import type { LlamaParams } from "../../src/nn/llama.js";
import { checkpointPath } from "../../src/train/checkpoint.js";
import { validateConfig } from "../../src/train/config.js";
import { readMetrics } from "../../src/train/metrics.js";
import { DivergedError, type TrainOptions, train } from "../../src/train/trainer.js";
import { liveBuffers, setup } from "../helpers/engine.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "rankwise-diverge-"));
let corpus: string;

beforeAll(async () => {
  await setup();
  corpus = join(tempDir(), "corpus.txt");
  writeFileSync(corpus, loadCorpus("moby-dick").text.slice(0, 6000));
});

const BASE = {
  model: "tiny",
  seqLen: 16,
  batchSize: 2,
  warmup: 0,
  lr: 0.01,
  evalEvery: 0,
  evalBatches: 1,
  logEvery: 1,
  sampleLength: 0,
  seed: 4,
};

/** Poison the gradients of the given (step, micro-batch) calls with NaN. */
function poison(bad: [step: number, micro: number][]): TrainOptions["gradientHook"] {
  const calls = new Map<number, number>();
  return (grads: LlamaParams, step: number) => {
    const micro = calls.get(step) ?? 0;
    calls.set(step, micro + 1);
    if (!bad.some(([s, m]) => s === step && m === micro)) return grads;
    return tree.map((g: any) => g.mul(Number.NaN), grads) as LlamaParams;
  };
}

async function run(options: Record<string, unknown>, hook?: TrainOptions["gradientHook"]) {
  const out = tempDir();
  const config = validateConfig({ ...BASE, data: corpus, ...options });
  const result = await train({ config, out, quiet: true, gradientHook: hook });
  return { out, result };
}

const bytes = (out: string, file: string) => readFileSync(join(checkpointPath(out), file));
const trainer = (out: string) => JSON.parse(bytes(out, "trainer.json").toString("utf8"));

describe("a skipped step leaves parameters and optimizer state bit-exact", () => {
  test.each([
    ["one batch per step", 1, [[3, 0]] as [number, number][]],
    ["accumulating 2, the second micro-batch bad", 2, [[3, 1]] as [number, number][]],
  ])("%s", async (_name, accumulate, bad) => {
    const [good, skipped] = await Promise.all([
      run({ steps: 2, accumulate }),
      run({ steps: 3, accumulate }, poison(bad)),
    ]);
    for (const file of ["model.safetensors", "optimizer.safetensors"]) {
      expect(bytes(skipped.out, file).equals(bytes(good.out, file)), file).toBe(true);
    }
    const meta = trainer(skipped.out);
    expect(meta.step).toBe(3);
    expect(meta.skippedSteps).toBe(1);
    // Every micro-batch of the bad step was drawn: the data order does not depend on the skip.
    expect(meta.sampler.position).toBe(3 * accumulate);
    const rows = readMetrics(join(skipped.out, "metrics.jsonl"));
    const skips = rows.filter((r) => r.type === "skip") as any[];
    expect(skips.map((r) => r.step)).toEqual([3]);
    expect(skips[0].reason).toMatch(/gradient norm is NaN|loss is NaN/);
    const last = rows.filter((r) => r.type === "train").at(-1) as any;
    expect([last.step, last.skipped, last.skippedSteps]).toEqual([3, true, 1]);
  });
});

test("maxBadSteps skips in a row stop the run; the last good checkpoint stays; nothing leaks", async () => {
  const before = await liveBuffers();
  const out = tempDir();
  const config = validateConfig({
    ...BASE,
    data: corpus,
    steps: 20,
    maxBadSteps: 3,
    checkpointEvery: 2,
  });
  // Steps 5 (a lone skip, then recovery) and 7–9 (three in a row) are bad.
  const hook = poison([5, 7, 8, 9].map((s) => [s, 0]));
  const error = await train({ config, out, quiet: true, gradientHook: hook }).catch((e) => e);
  expect(error).toBeInstanceOf(DivergedError);
  expect(error.message).toMatch(/^diverged: steps 7–9 /);
  expect(error.message).toContain("the last good checkpoint (step 6)");
  expect(error.message).not.toContain("\n");
  // Step 6 came after the lone skip at 5 (which reset nothing: the run recovered) and its
  // checkpoint is the last one: none is written while skips run, none after the stop.
  expect(trainer(out).step).toBe(6);
  expect(trainer(out).skippedSteps).toBe(1);
  const rows = readMetrics(join(out, "metrics.jsonl"));
  expect(rows.filter((r) => r.type === "skip").map((r) => r.step)).toEqual([5, 7, 8, 9]);
  expect(rows.at(-1)).toMatchObject({ type: "diverged", step: 9, inARow: 3 });
  expect(await liveBuffers()).toBe(before);
});
