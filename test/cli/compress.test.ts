/**
 * `rankwise compress` (built CLI): a tiny run compressed by SVD and by LQER is a model folder
 * whose decoder layers are stored as factors (config.json records the ranks), that `eval` and
 * `generate` run, and that `export`, `merge` and `finetune` open densified; compress.json and
 * stdout report parameters, bytes and forward time; bad flags are one line, exit 2, no folder.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { loadModel } from "../../src/nn/pretrained.js";
import { read, setup } from "../helpers/engine.js";
import { cli, cliOk, FAST, requireBuild, tempDir } from "./run-cli.js";

let dir: string;
let run: string;
let svdOut: string;

beforeAll(async () => {
  requireBuild();
  await setup();
  dir = tempDir();
  run = join(dir, "run");
  cliOk(["train", ...FAST, "--steps", "3", "--seed", "4", "--out", run]);
  svdOut = join(dir, "svd");
  cliOk(["compress", run, "--method", "svd", "--rank-ratio", "0.5", "--out", svdOut]);
});

describe("compress", () => {
  test("svd: factors on disk, ranks in config.json, the record and stdout report the savings", async () => {
    for (const f of ["config.json", "model.safetensors", "tokenizer.json", "compress.json"]) {
      expect(existsSync(join(svdOut, f)), f).toBe(true);
    }
    const config = JSON.parse(readFileSync(join(svdOut, "config.json"), "utf8"));
    // tiny: hidden 16, intermediate 32, 4 heads × 4, 2 kv heads: q [16,16] → 8, k [8,16] → 4.
    expect(config.rankwise_low_rank["model.layers.0.self_attn.q_proj"]).toBe(8);
    expect(config.rankwise_low_rank["model.layers.1.self_attn.k_proj"]).toBe(4);
    expect(config.rankwise_low_rank["model.layers.1.mlp.up_proj"]).toBe(8);
    const record = JSON.parse(readFileSync(join(svdOut, "compress.json"), "utf8"));
    expect(record.method).toBe("svd");
    expect(record.rule).toEqual({ rankRatio: 0.5 });
    expect(record.layers).toHaveLength(14);
    expect(record.parameters.after).toBeLessThan(record.parameters.before);
    expect(record.bytes.after).toBe(4 * record.parameters.after);
    expect(record.forward.beforeMs).toBeGreaterThan(0);
    expect(record.forward.afterMs).toBeGreaterThan(0);

    const before = await loadModel(join(run, "checkpoint"));
    const after = await loadModel(svdOut);
    expect(after.params["model.layers.0.mlp.gate_proj.weight"]).toBeUndefined();
    expect(after.params["model.layers.0.mlp.gate_proj.lowrank_a.weight"].shape).toEqual([8, 16]);
    expect(after.params["model.layers.0.mlp.gate_proj.lowrank_b.weight"].shape).toEqual([32, 8]);
    for (const name of ["model.embed_tokens.weight", "model.norm.weight"]) {
      expect(read(after.params[name]), name).toEqual(read(before.params[name]));
    }
    const count = (p: Record<string, { size: number }>) =>
      Object.values(p).reduce((n, a) => n + a.size, 0);
    expect(count(after.params)).toBe(record.parameters.after);
    expect(count(before.params)).toBe(record.parameters.before);
    tree.dispose([before.params, after.params]);
  });

  test("eval and generate run the factored folder; lqer keeps 4-bit Q beside the factors", () => {
    const ev = JSON.parse(
      cliOk(["eval", svdOut, "--data", "moby-dick", "--eval-batches", "2", "--json"]).stdout,
    );
    expect(Number.isFinite(ev.loss)).toBe(true);
    expect(cliOk(["generate", svdOut, "--length", "5", "--seed", "1"]).status).toBe(0);

    const lqer = join(dir, "lqer");
    const r = cliOk([
      "compress",
      run,
      "--method",
      "lqer",
      "--energy",
      "0.5",
      "--samples",
      "4",
      "--seq-len",
      "16",
      "--out",
      lqer,
    ]);
    expect(r.stderr.split("\n")[0]).toMatch(
      /^compressing .* with lqer \(energy 0.5, W as 4-bit RTN/,
    );
    expect(r.stdout).toMatch(/bytes +\d+ → \d+ \(×[\d.]+ smaller\)/);
    expect(r.stdout).toMatch(/forward +[\d.]+ ms → [\d.]+ ms/);
    const config = JSON.parse(readFileSync(join(lqer, "config.json"), "utf8"));
    expect(config.quantization_config).toMatchObject({ bits: 4, quant_method: "rtn" });
    const record = JSON.parse(readFileSync(join(lqer, "compress.json"), "utf8"));
    expect(record.bytes.after).toBeLessThan(record.bytes.before);
    expect(record.calibration).toMatchObject({ samples: 4, seqLen: 16 });
    const evq = JSON.parse(
      cliOk(["eval", lqer, "--data", "moby-dick", "--eval-batches", "2", "--json"]).stdout,
    );
    expect(Number.isFinite(evq.loss)).toBe(true);
  });

  test("export, merge and finetune open a compressed folder (densified)", () => {
    const gguf = join(dir, "model.gguf");
    cliOk(["export", svdOut, "--format", "gguf", "--type", "f32", "--out", gguf]);
    expect(existsSync(gguf)).toBe(true);
    const yml = join(dir, "merge.yml");
    writeFileSync(
      yml,
      `merge_method: linear\nmodels:\n  - model: ${svdOut}\n    parameters: {weight: 0.5}\n  - model: ${join(run, "checkpoint")}\n    parameters: {weight: 0.5}\n`,
    );
    cliOk(["merge", yml, "--out", join(dir, "merged"), "--quiet"]);
    expect(existsSync(join(dir, "merged", "model.safetensors"))).toBe(true);
    const ft = join(dir, "ft");
    cliOk(
      [
        "finetune",
        "--model",
        svdOut,
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
        ["--method", "nope", "--rank-ratio", "0.5"],
        /--method must be one of svd, fwsvd, welore, cur, lqer, lq-lora/,
      ],
      [["--rank-ratio", "0.5"], /--method is required/],
      [["--method", "svd"], /give exactly one of --rank-ratio r .* or --energy e/],
      [
        ["--method", "svd", "--rank-ratio", "0"],
        /--rank-ratio must be a number in \(0, 1\], got "0"/,
      ],
      [["--method", "svd", "--energy", "1.5"], /--energy must be a number in \(0, 1\], got "1.5"/],
      [
        ["--method", "svd", "--rank-ratio", "0.5", "--bits", "4"],
        /--bits applies to lqer and lq-lora only/,
      ],
      [
        ["--method", "lqer", "--rank-ratio", "0.5", "--bits", "3"],
        /--bits must be 4 or 8, got "3"/,
      ],
      [
        ["--method", "lqer", "--rank-ratio", "0.5", "--group-size", "5"],
        /--group-size: group size 5 must divide/,
      ],
      [
        ["--method", "cur", "--rank-ratio", "0.5", "--iterations", "2"],
        /--iterations applies to lq-lora only/,
      ],
      [
        ["--method", "fwsvd", "--rank-ratio", "0.5", "--samples", "0"],
        /--samples must be an integer ≥ 1/,
      ],
    ];
    for (const [flags, message] of cases) {
      const out = join(dir, "bad");
      const r = cli(["compress", run, ...flags, "--out", out]);
      const lines = r.stderr.split("\n").filter((l) => l !== "");
      expect(r.status, r.stderr).toBe(2);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
    expect(cli(["compress", run, "--method", "svd", "--energy", "0.9"]).stderr).toMatch(
      /--out is required/,
    );
  });
});
