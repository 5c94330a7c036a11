/**
 * `--mixing upgrad` (issue 17): a step's batch holds each domain's rows in equal blocks from its
 * own stream; the gradient the optimizer sees is the library's UPGrad
 * (optim/multi-objective/upgrad.ts) of the per-domain gradients, computed here on the blocks
 * separately, and conflicts with neither domain; a run resumes bit for bit; bad input is one
 * line, exit 2.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import { main } from "../../src/cli/main.js";
import { loadCorpus } from "../../src/data/corpus.js";
import * as tree from "../../src/engine/tree.js";
import { initLlama, makeLossAndGrad } from "../../src/nn/llama.js";
import { llamaPreset } from "../../src/nn/llama-config.js";
import { upgrad } from "../../src/optim/multi-objective/upgrad.js";
import { validateConfig } from "../../src/train/config.js";
import { readMetrics } from "../../src/train/metrics.js";
import { MixtureSampler } from "../../src/train/mixing/sampler.js";
import { makeRunLossAndGrad } from "../../src/train/run-gradient.js";
import { train } from "../../src/train/trainer.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";
import { TINY_RUN } from "../helpers/tiny-base.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "rankwise-upgrad-"));
let data: string; // two domains: Moby Dick and State of the Union, 4 000 characters each

beforeAll(async () => {
  await setup();
  const dir = tempDir();
  const files = ["moby-dick", "sotu"].map((name) => {
    const file = join(dir, `${name}.txt`);
    writeFileSync(file, loadCorpus(name).text.slice(0, 4000));
    return file;
  });
  data = files.join(",");
});

const BASE = { model: "tiny", ...TINY_RUN, batchSize: 4, seed: 2, lr: 0.01, mixing: "upgrad" };

test("a stratified batch: equal blocks, each from its own domain", () => {
  const parts = [new Int32Array(50).fill(1), new Int32Array(30).fill(2)];
  const all = new Int32Array(80);
  all.set(parts[0]!, 0);
  all.set(parts[1]!, 50);
  const s = new MixtureSampler(all, parts, { batchSize: 6, seqLen: 4, seed: 1 });
  const batch = s.stratified();
  expect(Array.from(batch.domains)).toEqual([0, 0, 0, 1, 1, 1]);
  expect(Array.from(read(batch.inputs))).toEqual([
    ...new Array(12).fill(1),
    ...new Array(12).fill(2),
  ]);
  batch.targets.dispose();
  expect(s.position).toBe(1);
});

test("the step's gradient is UPGrad of the domains' gradients, and conflicts with neither", async () => {
  const modelConfig = llamaPreset("tiny", 13, { max_position_embeddings: 64 });
  const params = initLlama(modelConfig, 9);
  // Two "domains" of two rows each: the same inputs, followed by disjoint token sets, so the
  // domains pull the output logits apart (their gradients conflict).
  const rows = (lo: number) =>
    Int32Array.from({ length: 2 * 9 }, (_, i) => lo + ((i * 5 + lo) % 6));
  const a = rows(0);
  const b = rows(7);
  const window = (r: Int32Array, from: number) =>
    Int32Array.from({ length: 2 * 8 }, (_, i) => r[Math.floor(i / 8) * 9 + (i % 8) + from]!);
  const inputs = np.array(Int32Array.from([...window(a, 0), ...window(a, 0)])).reshape([4, 8]);
  const targets = np.array(Int32Array.from([...window(a, 1), ...window(b, 1)])).reshape([4, 8]);

  const config = validateConfig({ ...BASE, data });
  const trainer = makeRunLossAndGrad(config, modelConfig, () => 0);
  const [loss, d] = trainer(tree.ref(params), inputs.ref, targets.ref);

  // Reference: one plain gradient per domain block, aggregated by the library.
  const plain = makeLossAndGrad(modelConfig);
  const [la, ga] = plain(tree.ref(params), inputs.ref.slice([0, 2]), targets.ref.slice([0, 2]));
  const [lb, gb] = plain(tree.ref(params), inputs.ref.slice([2, 4]), targets.ref.slice([2, 4]));
  const expected = upgrad([tree.ref(ga), tree.ref(gb)]) as Record<string, np.Array>;
  expect(read(loss)[0]).toBeCloseTo((read(la)[0]! + read(lb)[0]!) / 2, 5);
  let dotA = 0;
  let dotB = 0;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (const name of Object.keys(params)) {
    const got = read(d[name]!.ref);
    const want = read(expected[name]!);
    const scale = Math.max(...want.map(Math.abs));
    for (let i = 0; i < want.length; i++) {
      expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-5 * scale + 1e-9);
    }
    const [va, vb] = [read(ga[name]!), read(gb[name]!)];
    for (let i = 0; i < got.length; i++) {
      dotA += got[i]! * va[i]!;
      dotB += got[i]! * vb[i]!;
      ab += va[i]! * vb[i]!;
      aa += va[i]! * va[i]!;
      bb += vb[i]! * vb[i]!;
    }
  }
  // The domains conflict (so UPGrad is not their mean), and the direction decreases both
  // domains' losses to first order.
  expect(ab / Math.sqrt(aa * bb)).toBeLessThan(-0.05);
  expect(dotA).toBeGreaterThan(0);
  expect(dotB).toBeGreaterThan(0);
  tree.dispose(d);

  // A compiled step leaks nothing.
  const before = await liveBuffers();
  tree.dispose(trainer(tree.ref(params), inputs.ref, targets.ref));
  expect(await liveBuffers()).toBe(before);
  trainer.dispose();
  plain.dispose();
  tree.dispose([params, inputs, targets]);
});

describe("an upgrad run", () => {
  async function run(steps: number, out = tempDir(), resume = false) {
    const config = validateConfig({ ...BASE, data, steps });
    await train({ config, out, quiet: true, resume });
    const rows = readMetrics(join(out, "metrics.jsonl")) as any[];
    return { out, train: rows.filter((r) => r.type === "train") };
  }

  test("resumed at step 2 = 4 steps straight, bit for bit", async () => {
    const straight = await run(4);
    for (const row of straight.train) expect(Number.isFinite(row.loss)).toBe(true);
    const out = tempDir();
    await run(2, out);
    const resumed = await run(4, out, true);
    expect(resumed.train.map((r) => r.loss)).toEqual(straight.train.map((r) => r.loss));
    const bytes = (dir: string, file: string) => readFileSync(join(dir, "checkpoint", file));
    expect(bytes(out, "model.safetensors").equals(bytes(straight.out, "model.safetensors"))).toBe(
      true,
    );
    const sampler = (dir: string) => JSON.parse(bytes(dir, "trainer.json").toString()).sampler;
    expect(sampler(out)).toEqual(sampler(straight.out));
  });
});

describe("bad input: one line, exit 2", () => {
  afterEach(() => vi.restoreAllMocks());

  test.each([
    ["one domain", ["--mixing", "upgrad"], /--mixing upgrad needs at least two domains/],
    [
      "rows not divisible",
      ["--mixing", "upgrad", "--batch-size", "5", "--two"],
      /--batch-size must be a multiple of 2, got 5/,
    ],
  ])("%s", async (_, flags, pattern) => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: any) => {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      return true;
    });
    const two = flags.includes("--two");
    const corpus = two ? data : data.split(",")[0]!;
    const args = ["train", "--model", "tiny", "--data", corpus, "--out", join(tempDir(), "r")];
    const given = flags.filter((f) => f !== "--two");
    expect(await main(["node", "rankwise", ...args, ...given])).toBe(2);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
  });
});
