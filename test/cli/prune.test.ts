/**
 * `rankwise prune` (built CLI): a tiny run pruned by each method is a model folder that `eval`,
 * `generate`, `merge` and `finetune` open; the decoder linear layers hold the asked share of zeros
 * while embeddings and norms are the run's own; bad flags are one line, exit 2, and leave no
 * folder behind.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { loadModel } from "../../src/nn/pretrained.js";
import { read, setup } from "../helpers/engine.js";
import { cli, cliAsync, cliOk, FAST, requireBuild, tempDir } from "./run-cli.js";

let dir: string;
let run: string;

beforeAll(async () => {
  requireBuild();
  await setup();
  dir = tempDir();
  run = join(dir, "run");
  cliOk(["train", ...FAST, "--steps", "3", "--seed", "4", "--out", run]);
});

const CALIB = ["--samples", "4", "--seq-len", "16"];

describe("prune", () => {
  test.each([
    ["magnitude", ["--sparsity", "0.4"], 0.4],
    ["wanda", ["--sparsity", "0.5"], 0.5],
    ["sparsegpt", ["--nm", "2:4"], 0.5],
    ["gblm", ["--sparsity", "0.5"], 0.5],
    ["dsnot", ["--sparsity", "0.5"], 0.5],
    ["oba", ["--sparsity", "0.5"], 0.5],
  ])("%s: a model folder that eval and generate open", async (method, flags, share) => {
    const out = join(dir, `out-${method}`);
    const r = await cliAsync(["prune", run, "--method", method, ...flags, ...CALIB, "--out", out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.split("\n")[0]).toMatch(new RegExp(`^pruning .* with ${method}`));
    for (const f of ["config.json", "model.safetensors", "tokenizer.json", "prune.json"]) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const record = JSON.parse(readFileSync(join(out, "prune.json"), "utf8"));
    expect(record.method).toBe(method);

    const before = await loadModel(join(run, "checkpoint"));
    const after = await loadModel(out);
    let zeros = 0;
    let total = 0;
    for (const [name, w] of Object.entries(after.params)) {
      const data = read(w);
      if (/_proj\.weight$/.test(name)) {
        zeros += data.filter((v) => v === 0).length;
        total += data.length;
      } else expect(data, name).toEqual(read(before.params[name]));
    }
    expect(zeros / total).toBeCloseTo(share, 2);
    expect(record.achieved).toBeCloseTo(zeros / total, 12);
    tree.dispose([before.params, after.params]);

    const ev = JSON.parse(
      cliOk(["eval", out, "--data", "moby-dick", "--eval-batches", "2", "--json"]).stdout,
    );
    expect(Number.isFinite(ev.loss)).toBe(true);
    expect(cliOk(["generate", out, "--length", "5", "--seed", "1"]).status).toBe(0);
  });

  test("finetune and merge open a pruned folder", () => {
    const pruned = join(dir, "for-merge");
    cliOk(["prune", run, "--method", "magnitude", "--sparsity", "0.5", "--out", pruned]);
    const yml = join(dir, "merge.yml");
    writeFileSync(
      yml,
      `merge_method: linear\nmodels:\n  - model: ${pruned}\n    parameters: {weight: 0.5}\n  - model: ${join(run, "checkpoint")}\n    parameters: {weight: 0.5}\n`,
    );
    cliOk(["merge", yml, "--out", join(dir, "merged"), "--quiet"]);
    expect(existsSync(join(dir, "merged", "model.safetensors"))).toBe(true);
    const ft = join(dir, "ft");
    cliOk(
      [
        "finetune",
        "--model",
        pruned,
        "--adapter",
        "lora",
        "--steps",
        "2",
        "--seq-len",
        "16",
      ].concat(["--batch-size", "2", "--quiet", "--out", ft]),
    );
    expect(existsSync(join(ft, "adapter", "adapter_config.json"))).toBe(true);
  });

  test("bad flags: one line, exit 2, no folder left", () => {
    const cases: [string[], RegExp][] = [
      [
        ["--method", "nope", "--sparsity", "0.5"],
        /--method must be one of magnitude, wanda, sparsegpt/,
      ],
      [["--method", "wanda"], /--sparsity is required/],
      [["--method", "wanda", "--sparsity", "1"], /--sparsity must be a number in \[0, 1\)/],
      [["--method", "wanda", "--nm", "4:2"], /--nm must be N:M with 1 ≤ N < M/],
      [["--method", "wanda", "--nm", "2:4", "--sparsity", "0.3"], /disagrees with --nm 2:4/],
      [["--method", "wanda", "--nm", "3:7"], /--nm: .*multiples of 7; hidden_size is 16/],
      [
        ["--method", "wanda", "--sparsity", "0.5", "--samples", "0"],
        /--samples must be an integer ≥ 1/,
      ],
      [
        ["--method", "wanda", "--sparsity", "0.5", "--seq-len", "99999"],
        /--seq-len 99999 is longer/,
      ],
      [
        ["--method", "wanda", "--sparsity", "0.5", "--calibration", join(dir, "none.txt")],
        /--calibration/,
      ],
    ];
    for (const [flags, message] of cases) {
      const out = join(dir, "bad");
      const r = cli(["prune", run, ...flags, "--out", out]);
      const lines = r.stderr.split("\n").filter((l) => l !== "");
      expect(r.status, r.stderr).toBe(2);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
    expect(cli(["prune", run, "--method", "wanda", "--sparsity", "0.5"]).stderr).toMatch(
      /--out is required/,
    );
  });
});
