/**
 * `rankwise align` (built CLI): a tiny trained run aligned to a fresh model folder is a model folder with
 * align.json whose weights are the run's permuted as the record says (bit for bit), that
 * computes the same loss, and that `merge` opens; the objective does not decrease. Bad input
 * (no --to, no --out, mismatched architectures, bad numbers, an unknown model) is one line,
 * exit 2, and leaves no folder.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { initLlama } from "../../src/nn/llama.js";
import { type LlamaConfig, llamaPreset } from "../../src/nn/llama-config.js";
import { loadModel, saveModel } from "../../src/nn/pretrained.js";
import { permuteLlama } from "../../src/weights/align/index.js";
import { read, setup } from "../helpers/engine.js";
import { cli, cliOk, FAST, requireBuild, tempDir } from "./run-cli.js";

let dir: string;
/** A trained run and a freshly initialised model folder of the same architecture. */
let runA: string;
let runB: string;

beforeAll(async () => {
  requireBuild();
  await setup();
  dir = tempDir();
  runA = join(dir, "a");
  runB = join(dir, "b");
  cliOk(["train", ...FAST, "--steps", "3", "--seed", "1", "--out", runA]);
  // The model to align: a model folder of the same architecture, freshly initialised.
  const { config, params } = await loadModel(join(runA, "checkpoint"));
  tree.dispose(params);
  const fresh = initLlama(config as LlamaConfig, 2);
  await saveModel(runB, { config, params: fresh });
  tree.dispose(fresh);
  copyFileSync(join(runA, "checkpoint", "tokenizer.json"), join(runB, "tokenizer.json"));
});

const evalLoss = (model: string) =>
  JSON.parse(
    cliOk([
      "eval",
      model,
      "--data",
      "moby-dick",
      "--eval-batches",
      "2",
      "--seq-len",
      "16",
      "--json",
    ]).stdout,
  ).loss as number;

describe("align", () => {
  test("a trained run aligned to a fresh model: permuted weights, same loss, a record", async () => {
    const out = join(dir, "aligned");
    // The trained run is permuted (so that its loss tells a changed function), towards the fresh one.
    const r = cli(["align", "--to", runB, runA, "--out", out, "--residual", "--seed", "3"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.split("\n")[0]).toMatch(/^aligning .* by weight matching/);
    for (const f of ["config.json", "model.safetensors", "tokenizer.json", "align.json"]) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const record = JSON.parse(readFileSync(join(out, "align.json"), "utf8"));
    expect(record).toMatchObject({ method: "weight_matching", seed: 3, residual: true });
    expect(record.objective.after).toBeGreaterThanOrEqual(record.objective.before);
    expect(record.distance.after).toBeLessThanOrEqual(record.distance.before);

    // The folder holds the run's weights permuted exactly as align.json says.
    const b = await loadModel(join(runA, "checkpoint"));
    const got = await loadModel(out);
    const perm = {
      layers: record.permutations.layers.map((l: Record<string, number[]>) => ({
        mlp: Int32Array.from(l.mlp!),
        kvHeads: Int32Array.from(l.kv_heads!),
        heads: Int32Array.from(l.heads!),
      })),
      residual: Int32Array.from(record.permutations.residual),
    };
    const want = permuteLlama(b.params, b.config as LlamaConfig, perm);
    for (const [name, w] of Object.entries(want)) {
      expect(read(got.params[name]!), name).toEqual(read(w));
    }
    tree.dispose([want, got.params]);

    expect(Math.abs(evalLoss(out) - evalLoss(join(runA, "checkpoint")))).toBeLessThanOrEqual(1e-5);

    const yml = join(dir, "merge.yml");
    writeFileSync(
      yml,
      `merge_method: linear\nmodels:\n  - model: ${out}\n    parameters: {weight: 0.5}\n  - model: ${runB}\n    parameters: {weight: 0.5}\n`,
    );
    cliOk(["merge", yml, "--out", join(dir, "merged"), "--quiet"]);
    expect(existsSync(join(dir, "merged", "model.safetensors"))).toBe(true);
  });

  test("bad input: one line, exit 2, no folder left", async () => {
    // A model of another shape (intermediate_size) with the same tokenizer.
    const other = join(dir, "other");
    const text = readFileSync(join(runA, "checkpoint", "tokenizer.json"), "utf8");
    const vocab = JSON.parse(text).model.vocab as Record<string, number>;
    const config = llamaPreset("tiny", Object.keys(vocab).length, { intermediate_size: 48 });
    const params = initLlama(config, 0);
    await saveModel(other, { config, params });
    tree.dispose(params);
    writeFileSync(join(other, "tokenizer.json"), text);

    const out = join(dir, "bad");
    const cases: [string[], RegExp][] = [
      [[runB, "--out", out], /^rankwise: align: --to <model> is required: the reference model/],
      [["--to", runA, runB], /^rankwise: align: --out <dir> is required/],
      [
        ["--to", runA, other, "--out", out],
        /differ in intermediate_size \(32 vs 48\): alignment needs two models of the same architecture/,
      ],
      [["--to", runA, runB, "--out", out, "--seed", "-1"], /--seed must be an integer ≥ 0/],
      [["--to", runA, runB, "--out", out, "--max-iter", "0"], /--max-iter must be an integer ≥ 1/],
      [["--to", join(dir, "nowhere"), runB, "--out", out], /no model at .*nowhere/],
    ];
    for (const [args, message] of cases) {
      const r = cli(["align", ...args]);
      expect(r.status, `${args.join(" ")}\n${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split("\n"), args.join(" ")).toHaveLength(1);
      expect(r.stderr, args.join(" ")).toMatch(message);
      expect(existsSync(out), args.join(" ")).toBe(false);
    }
  });
});
