/**
 * `train --gradient forward[:k]` (issue 17): the trainer's estimate is the library's forward
 * gradient (optim/estimators/forward-gradient.ts, eager) with the directions keyed by
 * (seed, step, call); a run's loss falls on a tiny model; a resumed run equals an uninterrupted
 * one bit for bit; bad values and combinations are one line, exit 2.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np, random } from "@jax-js/jax";
import { afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import { main } from "../../src/cli/main.js";
import * as tree from "../../src/engine/tree.js";
import { initLlama, llamaLoss } from "../../src/nn/llama.js";
import { llamaPreset } from "../../src/nn/llama-config.js";
import { forwardGradient } from "../../src/optim/estimators/forward-gradient.js";
import { validateConfig } from "../../src/train/config.js";
import { directionSeed } from "../../src/train/gradient-source.js";
import { readMetrics } from "../../src/train/metrics.js";
import { makeRunLossAndGrad } from "../../src/train/run-gradient.js";
import { train } from "../../src/train/trainer.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";
import { TINY_RUN, writeTinyCorpus } from "../helpers/tiny-base.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "rankwise-forward-"));
let corpus: string;

beforeAll(async () => {
  await setup();
  corpus = writeTinyCorpus(tempDir()).corpus;
});

const BASE = { model: "tiny", ...TINY_RUN, batchSize: 8, seed: 3, lr: 0.01, clipNorm: 0 };

async function run(options: Record<string, unknown>, out = tempDir(), resume = false) {
  const config = validateConfig({ ...BASE, data: corpus, ...options });
  await train({ config, out, quiet: true, resume });
  const rows = readMetrics(join(out, "metrics.jsonl")) as any[];
  return { out, losses: rows.filter((r) => r.type === "train").map((r) => r.loss as number) };
}

test("the trainer's estimate is the library's forward gradient with the step's key", async () => {
  const modelConfig = llamaPreset("tiny", 11, { max_position_embeddings: 64 });
  const params = initLlama(modelConfig, 4);
  const tokens = Int32Array.from({ length: 2 * 8 * 2 }, (_, i) => (i * 7 + 3) % 11);
  const inputs = np.array(tokens.slice(0, 16)).reshape([2, 8]);
  const targets = np.array(tokens.slice(16)).reshape([2, 8]);
  const config = validateConfig({ ...BASE, data: corpus, gradient: "forward:3" });
  const lossAndGrad = makeRunLossAndGrad(config, modelConfig, () => 7);
  const f = (p: any) => llamaLoss(tree.ref(p), inputs.ref, targets.ref, modelConfig);
  // Two calls in one step: the first gets call index 0, the second 1 (a micro-batch each).
  for (const call of [0, 1]) {
    const [loss, g] = lossAndGrad(tree.ref(params), inputs.ref, targets.ref);
    const key = random.key(directionSeed(BASE.seed, 7, call));
    const [refLoss, refG] = forwardGradient(f, params, key, 3) as [np.Array, any];
    expect(read(loss)[0]).toBeCloseTo(read(refLoss)[0]!, 5);
    for (const name of Object.keys(params)) {
      const got = read(g[name]!);
      const want = read(refG[name]!);
      const scale = Math.max(...want.map(Math.abs));
      for (let i = 0; i < want.length; i++) {
        expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-4 * scale + 1e-7);
      }
    }
  }
  // A compiled step leaks nothing (the eager reference above does: jvp outside jit, 0.1.25).
  const before = await liveBuffers();
  tree.dispose(lossAndGrad(tree.ref(params), inputs.ref, targets.ref));
  expect(await liveBuffers()).toBe(before);
  lossAndGrad.dispose();
  tree.dispose([params, inputs, targets]);
  // Different steps and calls draw different directions.
  const seeds = new Set([0, 1, 2].flatMap((s) => [0, 1].map((c) => directionSeed(3, s, c))));
  expect(seeds.size).toBe(6);
});

describe("a forward-gradient run", () => {
  test("the loss falls (AdamW, 4 directions)", async () => {
    const { losses } = await run({ gradient: "forward:4", steps: 30 });
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 5)) - 0.15);
  });

  test("resumed at step 2 = 4 steps straight, bit for bit", async () => {
    const options = { gradient: "forward:2", accumulate: 2 };
    const straight = await run({ ...options, steps: 4 });
    const out = tempDir();
    await run({ ...options, steps: 2 }, out);
    const resumed = await run({ ...options, steps: 4 }, out, true);
    expect(resumed.losses).toEqual(straight.losses);
    const weights = (dir: string) => readFileSync(join(dir, "checkpoint", "model.safetensors"));
    expect(weights(out).equals(weights(straight.out))).toBe(true);
    // The gradient source is part of the run: a resume may not change it.
    await expect(run({ accumulate: 2, steps: 6 }, out, true)).rejects.toThrow(/gradient is unset/);
  });
});

describe("bad input: one line, exit 2", () => {
  afterEach(() => vi.restoreAllMocks());

  test.each([
    [["--gradient", "forward:0"], /--gradient must be one of backprop, forward, forward:k/],
    [["--gradient", "sideways"], /--gradient must be one of/],
    [["--gradient", "forward", "--reweight", "focal"], /use it with --reweight none/],
  ])("%j", async (flags, pattern) => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: any) => {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      return true;
    });
    const out = join(tempDir(), "run");
    const args = ["train", "--model", "tiny", "--data", corpus, "--out", out, ...flags];
    expect(await main(["node", "rankwise", ...args])).toBe(2);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
  });
});
