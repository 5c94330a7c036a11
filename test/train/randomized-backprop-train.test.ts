/**
 * `train --gradient randomized:k` (issue 17): the dense decoder linear layers' weight gradients
 * go through a k-column random sketch (nn/randomized-linear.ts), everything else stays the exact
 * backprop gradient; averaging the estimate over keys approaches the exact weight gradient; a
 * resumed run equals an uninterrupted one bit for bit; bad values are one line.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np, random } from "@jax-js/jax";
import { beforeAll, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { initLlama, makeLossAndGrad } from "../../src/nn/llama.js";
import { llamaPreset } from "../../src/nn/llama-config.js";
import { validateConfig } from "../../src/train/config.js";
import { readMetrics } from "../../src/train/metrics.js";
import { makeRandomizedEstimate } from "../../src/train/randomized-step.js";
import { train } from "../../src/train/trainer.js";
import { read, setup } from "../helpers/engine.js";
import { TINY_RUN, writeTinyCorpus } from "../helpers/tiny-base.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "rankwise-randomized-"));
let corpus: string;

beforeAll(async () => {
  await setup();
  corpus = writeTinyCorpus(tempDir()).corpus;
});

const BASE = { model: "tiny", ...TINY_RUN, batchSize: 8, seed: 5, lr: 0.01 };
const LINEAR = /\.(q|k|v|o|gate|up|down)_proj\.weight$/;

type Vec = ArrayLike<number>;
const norm = (v: Vec) => Math.sqrt(Array.from(v).reduce((a, b) => a + b * b, 0));
const diff = (a: Vec, b: Vec) => norm(Array.from(a, (x, i) => x - b[i]!));

test("only the linear weights' gradients are sketched, and their mean over keys nears the exact one", () => {
  const modelConfig = llamaPreset("tiny", 11, { max_position_embeddings: 64 });
  const params = initLlama(modelConfig, 2);
  const tokens = Int32Array.from({ length: 4 * 16 * 2 }, (_, i) => (i * 5 + 1) % 11);
  const inputs = np.array(tokens.slice(0, 64)).reshape([4, 16]);
  const targets = np.array(tokens.slice(64)).reshape([4, 16]);
  const exactFn = makeLossAndGrad(modelConfig);
  const [exactLoss, exactG] = exactFn(tree.ref(params), inputs.ref, targets.ref);
  const exact = Object.fromEntries(Object.entries(exactG).map(([n, g]) => [n, read(g)]));
  const estimate = makeRandomizedEstimate(modelConfig, 8);
  const keys = 24;
  const sum: Record<string, number[]> = {};
  let singleError = 0;
  for (let i = 0; i < keys; i++) {
    const [loss, g] = estimate(tree.ref(params), inputs.ref, targets.ref, random.key(100 + i));
    expect(read(loss)[0]).toBeCloseTo(read(exactLoss.ref)[0]!, 5);
    for (const [name, leaf] of Object.entries(g as Record<string, np.Array>)) {
      const got = read(leaf);
      const want = exact[name]!;
      if (!LINEAR.test(name)) {
        // The embedding and the norms see exact activation gradients.
        expect(diff(got, want)).toBeLessThan(1e-4 * (norm(want) + 1e-6));
        continue;
      }
      if (i === 0) singleError += diff(got, want) / norm(want);
      sum[name] = sum[name] ? sum[name]!.map((x, j) => x + got[j]!) : Array.from(got);
    }
  }
  const names = Object.keys(sum);
  expect(names.length).toBe(2 * 7);
  let meanError = 0;
  for (const name of names) {
    const mean = sum[name]!.map((x) => x / keys);
    meanError += diff(mean, exact[name]!) / norm(exact[name]!);
  }
  // Unbiased with variance ∝ 1/k per key: the error of a mean over 24 keys shrinks like
  // 1/√24 ≈ 0.2; a single key's estimate is visibly off (the sketch is not exact).
  expect(singleError / names.length).toBeGreaterThan(0.05);
  expect(meanError / singleError).toBeLessThan(0.45);
  estimate.dispose();
  exactFn.dispose();
  exactLoss.dispose();
  tree.dispose([params, inputs, targets]);
});

test("a resumed randomized run equals the uninterrupted one, bit for bit", async () => {
  async function run(steps: number, out = tempDir(), resume = false) {
    const config = validateConfig({ ...BASE, data: corpus, gradient: "randomized:4", steps });
    await train({ config, out, quiet: true, resume });
    const rows = readMetrics(join(out, "metrics.jsonl")) as any[];
    return { out, losses: rows.filter((r) => r.type === "train").map((r) => r.loss as number) };
  }
  const straight = await run(4);
  const out = tempDir();
  await run(2, out);
  const resumed = await run(4, out, true);
  expect(resumed.losses).toEqual(straight.losses);
  const weights = (dir: string) => readFileSync(join(dir, "checkpoint", "model.safetensors"));
  expect(weights(out).equals(weights(straight.out))).toBe(true);
});

test("bad sketch sizes are refused in one line naming the accepted values", () => {
  for (const gradient of ["randomized", "randomized:0", "randomized:x"]) {
    expect(() => validateConfig({ ...BASE, data: corpus, gradient })).toThrow(
      /--gradient must be one of .*randomized:k \(k sketch columns/,
    );
  }
});
