/**
 * Training on several domains through `train()` (as the CLI runs it), on two small text files:
 * rows are drawn by the weights and come from their domain's training text; train rows carry
 * domainWeights on the simplex, eval rows valLossByDomain equal to each domain's loss computed
 * on its own (eager jax-js on the checkpoint); ODM, DGA and DoReMi runs are deterministic and
 * resume bit for bit (streams, weights and rule state in the checkpoint) and leave no device
 * buffer behind; bad references are refused in one line.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { loadCorpus } from "../../src/data/corpus.js";
import { validationBatches } from "../../src/data/sampler.js";
import { splitTokens } from "../../src/data/split.js";
import { buildTokenizer } from "../../src/data/tokenizer.js";
import * as tree from "../../src/engine/tree.js";
import { llamaLoss } from "../../src/nn/llama.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { validateConfig } from "../../src/train/config.js";
import { readMetrics } from "../../src/train/metrics.js";
import { MixtureSampler } from "../../src/train/mixing/sampler.js";
import { loadData } from "../../src/train/run-data.js";
import { train } from "../../src/train/trainer.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";
import { TINY_RUN } from "../helpers/tiny-base.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "rankwise-mixing-"));

let a: string; // Moby Dick, 6 000 characters
let b: string; // State of the Union, 6 000 characters
let texts: string[];

beforeAll(async () => {
  await setup();
  const dir = tempDir();
  texts = [loadCorpus("moby-dick").text.slice(0, 6000), loadCorpus("sotu").text.slice(0, 6000)];
  a = join(dir, "a.txt");
  b = join(dir, "b.txt");
  writeFileSync(a, texts[0]!);
  writeFileSync(b, texts[1]!);
});

const BASE = { model: "tiny", ...TINY_RUN, batchSize: 4, evalBatches: 2, seed: 5, lr: 0.01 };

async function run(options: Record<string, unknown>, out = tempDir(), resume = false) {
  const config = validateConfig({ ...BASE, data: `${a},${b}`, ...options });
  await train({ config, out, quiet: true, resume });
  const rows = readMetrics(join(out, "metrics.jsonl")) as any[];
  return {
    out,
    train: rows.filter((r) => r.type === "train"),
    evals: rows.filter((r) => r.type === "eval"),
  };
}

const samplerState = (out: string) =>
  JSON.parse(readFileSync(join(out, "checkpoint", "trainer.json"), "utf8")).sampler;
const weightsBytes = (out: string) => readFileSync(join(out, "checkpoint", "model.safetensors"));

test("rows follow the weights and come from their own domain's text", () => {
  const parts = [new Int32Array(500).fill(1), new Int32Array(300).fill(2)];
  const all = new Int32Array(800);
  all.set(parts[0]!, 0);
  all.set(parts[1]!, 500);
  const s = new MixtureSampler(all, parts, { batchSize: 8, seqLen: 4, seed: 1 });
  let second = 0;
  const n = 400;
  for (let i = 0; i < n; i++) {
    const batch = s.next([0.25, 0.75]);
    const tokens = read(batch.inputs);
    batch.targets.dispose();
    for (let r = 0; r < 8; r++) {
      const row = Array.from(tokens.slice(r * 4, r * 4 + 4));
      expect(row).toEqual(new Array(4).fill(batch.domains[r]! + 1)); // its own domain's tokens
      second += batch.domains[r]!;
    }
  }
  // 3 200 rows with p = 0.75: the share is within 4 standard deviations (0.03) of 0.75.
  expect(Math.abs(second / (8 * n) - 0.75)).toBeLessThan(0.03);
  const zero = s.next([1, 0]);
  expect(Array.from(zero.domains)).toEqual(new Array(8).fill(0));
  zero.inputs.dispose();
  zero.targets.dispose();
});

describe("uniform and fixed mixtures", () => {
  test("fixed weights are logged as given; valLossByDomain is each domain's own loss", async () => {
    const r = await run({ mixing: "fixed:1,3", steps: 3 });
    for (const row of r.train) expect(row.domainWeights).toEqual({ [a]: 0.25, [b]: 0.75 });
    const last = r.evals.at(-1);
    expect(Object.keys(last.valLossByDomain)).toEqual([a, b]);

    // Independent: the trainer's pipeline by hand (one char vocabulary over both texts, each
    // split 90/10), the checkpoint's model, eager loss over the same fixed windows.
    const tokenizer = buildTokenizer("char", texts.join("\n\n"));
    const ck = await loadCheckpoint(r.out);
    try {
      const losses = texts.map((text) => {
        const { val } = splitTokens(tokenizer.encode(text), { valFraction: 0.1 });
        let total = 0;
        let rows = 0;
        for (const batch of validationBatches(val, { batchSize: 4, seqLen: 16, maxBatches: 2 })) {
          const n = batch.starts.length;
          const loss = read(
            llamaLoss(tree.ref(ck.params), batch.inputs, batch.targets, ck.modelConfig),
          )[0]!;
          if (n === 4) {
            total += loss * n;
            rows += n;
          }
        }
        return total / rows;
      });
      expect(last.valLossByDomain[a]).toBeCloseTo(losses[0]!, 5);
      expect(last.valLossByDomain[b]).toBeCloseTo(losses[1]!, 5);
      expect(last.valLoss).toBeCloseTo((losses[0]! + losses[1]!) / 2, 5);
    } finally {
      tree.dispose([ck.params, ck.optState]);
    }
  });
});

describe.each([
  ["odm", {}],
  ["dga", { mixingTarget: "__b__", mixingEvery: 2 }],
])("%s", (mixing, extra) => {
  const options = (steps: number) => ({
    mixing,
    steps,
    ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, v === "__b__" ? b : v])),
  });
  let straight: Awaited<ReturnType<typeof run>>;

  beforeAll(async () => {
    straight = await run(options(6));
  });

  test("weights move and stay on the simplex", () => {
    const weights = straight.train.map((row) => Object.values(row.domainWeights) as number[]);
    for (const w of weights) {
      expect(Math.abs(w[0]! + w[1]! - 1)).toBeLessThan(1e-12);
      expect(Math.min(...w)).toBeGreaterThan(0);
    }
    expect(weights.at(-1)![0]).not.toBe(0.5);
  });

  // The split run computes steps 1–3 on its own too: equal rows are also determinism for a seed.
  test("resumed at step 3 = 6 steps straight, bit for bit", async () => {
    const out = tempDir();
    await run(options(3), out);
    const resumed = await run(options(6), out, true);
    expect(resumed.train.map((r) => [r.step, r.loss, r.domainWeights])).toEqual(
      straight.train.map((r) => [r.step, r.loss, r.domainWeights]),
    );
    expect(samplerState(out)).toEqual(samplerState(straight.out));
    expect(Buffer.compare(weightsBytes(out), weightsBytes(straight.out))).toBe(0);
  });
});

describe("doremi", () => {
  let reference: string;
  beforeAll(async () => {
    reference = (await run({ mixing: "uniform", steps: 4 })).out;
  });

  test("moves the weights from the excess loss over the reference, resumes bit for bit", async () => {
    const straight = await run({ mixing: "doremi", reference, steps: 6 });
    const w = straight.train.map((row) => Object.values(row.domainWeights) as number[]);
    for (const x of w) expect(Math.abs(x[0]! + x[1]! - 1)).toBeLessThan(1e-12);
    expect(w.at(-1)![0]).not.toBe(0.5);
    const state = samplerState(straight.out).mixing;
    expect(state.rule).toBe("doremi");
    expect(state.doremi.scores.every((s: number) => s >= 0)).toBe(true);

    const out = tempDir();
    await run({ mixing: "doremi", reference, steps: 3 }, out);
    const resumed = await run({ mixing: "doremi", reference, steps: 6 }, out, true);
    expect(resumed.train.map((r) => [r.loss, r.domainWeights])).toEqual(
      straight.train.map((r) => [r.loss, r.domainWeights]),
    );
    expect(Buffer.compare(weightsBytes(out), weightsBytes(straight.out))).toBe(0);
  });

  test("a folder without a run, or a run with another tokenizer, is refused in one line", async () => {
    await expect(run({ mixing: "doremi", reference: tempDir(), steps: 1 })).rejects.toThrow(
      /--reference .* holds no run checkpoint; train the reference first/,
    );
    const other = tempDir();
    await train({
      config: validateConfig({ ...BASE, data: a, steps: 1 }),
      out: other,
      quiet: true,
    });
    await expect(run({ mixing: "doremi", reference: other, steps: 1 })).rejects.toThrow(
      /was trained with another tokenizer/,
    );
  });

  test("runs of every rule leave no device buffer behind", async () => {
    const before = await liveBuffers();
    await run({ mixing: "doremi", reference, steps: 2 });
    await run({ mixing: "dga", mixingTarget: b, mixingEvery: 1, steps: 2 });
    await run({ mixing: "odm", steps: 2 });
    expect(await liveBuffers()).toBe(before);
  });

  test("--prune-data on a mixture is refused in one line", () => {
    const config = { ...validateConfig({ ...BASE, data: `${a},${b}` }), pruneData: 0.5 };
    expect(() => loadData(config)).toThrow(
      "--prune-data works on one --data corpus, not a mixture of domains",
    );
  });

  test("resuming with another rule, target or interval is refused", async () => {
    const out = tempDir();
    await run({ mixing: "odm", steps: 2 }, out);
    await expect(run({ mixing: "uniform", steps: 4 }, out, true)).rejects.toThrow(
      /cannot resume: mixing is uniform but the checkpoint was trained with odm/,
    );
    const dga = tempDir();
    await run({ mixing: "dga", mixingTarget: b, steps: 1 }, dga);
    await expect(run({ mixing: "dga", mixingTarget: a, steps: 2 }, dga, true)).rejects.toThrow(
      `cannot resume: dga targets ${a} every 10 steps but the checkpoint was trained with ${b} every 10`,
    );
  });
});
