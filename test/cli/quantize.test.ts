/**
 * `rankwise quantize` (built CLI): a tiny run quantised by RTN and GPTQ is a model folder
 * (config.json with quantization_config, codes + scales, tokenizer.json, quantize.json) that
 * `eval`, `generate`, `prune` and `merge` open dequantised; the decoder weights stay within half
 * a grid step of the run's own (RTN) while embeddings and norms are the run's own; the printed
 * bytes are the file's; bad flags are one line, exit 2, and leave no folder behind (the shared
 * calibration flags' other messages are prune's, tested there).
 */
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
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
  cliOk(["train", ...FAST, "--steps", "3", "--seed", "5", "--out", run]);
});

describe("quantize", () => {
  test.each([
    ["rtn", "8", []],
    ["gptq", "4", ["--group-size", "8", "--samples", "4", "--seq-len", "16"]],
  ])(
    "%s %s-bit: a model folder that eval, generate, prune and merge open",
    async (method, bits, extra) => {
      const out = join(dir, `out-${method}`);
      const r = await cliAsync([
        "quantize",
        run,
        "--method",
        method,
        "--bits",
        bits,
        ...extra,
        "--out",
        out,
      ]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr.split("\n")[0]).toMatch(
        new RegExp(`^quantizing .* with ${method} \\(${bits}-bit`),
      );
      for (const f of ["config.json", "model.safetensors", "tokenizer.json", "quantize.json"]) {
        expect(existsSync(join(out, f)), f).toBe(true);
      }
      const record = JSON.parse(readFileSync(join(out, "quantize.json"), "utf8"));
      expect(record).toMatchObject({ method, bits: Number(bits), layers: 14 });
      expect(record.calibration === null).toBe(method === "rtn");
      // The printed bytes: the parameters' float32 size before, the file's data after.
      const m = /\((\d+) → (\d+) bytes/.exec(r.stdout);
      expect(m, r.stdout).not.toBeNull();
      expect(Number(m![1])).toBe(record.bytesBefore);
      expect(Number(m![2])).toBe(record.bytesAfter);
      expect(record.bytesAfter).toBeLessThan(record.bytesBefore);
      expect(statSync(join(out, "model.safetensors")).size).toBeGreaterThan(record.bytesAfter);
      const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
      expect(config.quantization_config).toMatchObject({
        quant_method: method,
        bits: Number(bits),
      });

      const before = await loadModel(join(run, "checkpoint"));
      const after = await loadModel(out);
      for (const [name, w] of Object.entries(after.params)) {
        const got = read(w);
        const own = read(before.params[name]);
        if (!/_proj\.weight$/.test(name)) {
          expect(got, name).toEqual(own);
          continue;
        }
        if (method !== "rtn") continue;
        // RTN, one scale per row: |Ŵ − W| ≤ scale/2 = max|W_row|/255.
        const cols = w.shape[1];
        for (let row = 0; row < w.shape[0]; row++) {
          const r0 = own.subarray(row * cols, (row + 1) * cols);
          const half = Math.max(...r0.map(Math.abs)) / 255;
          for (let c = 0; c < cols; c++) {
            expect(Math.abs(got[row * cols + c] - r0[c])).toBeLessThanOrEqual(
              half * (1 + 1e-6) + 1e-8,
            );
          }
        }
      }
      tree.dispose([before.params, after.params]);

      const ev = JSON.parse(
        cliOk(["eval", out, "--data", "moby-dick", "--eval-batches", "2", "--json"]).stdout,
      );
      expect(Number.isFinite(ev.loss)).toBe(true);
      expect(cliOk(["generate", out, "--length", "5", "--seed", "1"]).status).toBe(0);
      if (method === "gptq") {
        // merge streams plain folders tensor by tensor: a quantised one is opened whole instead.
        const yml = join(dir, "merge.yml");
        writeFileSync(
          yml,
          `merge_method: linear\nmodels:\n  - model: ${out}\n    parameters: {weight: 0.5}\n  - model: ${join(run, "checkpoint")}\n    parameters: {weight: 0.5}\n`,
        );
        cliOk(["merge", yml, "--out", join(dir, "merged"), "--quiet"]);
        expect(existsSync(join(dir, "merged", "model.safetensors"))).toBe(true);
      }
      if (method === "rtn") {
        cliOk([
          "prune",
          out,
          "--method",
          "magnitude",
          "--sparsity",
          "0.5",
          "--out",
          join(dir, "pruned"),
        ]);
        expect(existsSync(join(dir, "pruned", "model.safetensors"))).toBe(true);
      }
    },
  );

  test("bad flags: one line, exit 2, no folder left", () => {
    const cases: [string[], RegExp][] = [
      [["--bits", "4"], /--method is required: one of rtn, gptq/],
      [["--method", "awq", "--bits", "4"], /--method must be one of rtn, gptq; got "awq"/],
      [["--method", "rtn"], /--bits is required: 8 or 4/],
      [["--method", "rtn", "--bits", "3"], /--bits must be 8 or 4, got "3"/],
      [
        ["--method", "rtn", "--bits", "8", "--group-size", "0"],
        /--group-size must be an integer ≥ 1/,
      ],
      [
        ["--method", "rtn", "--bits", "8", "--group-size", "12"],
        /--group-size: group size 12 must divide every layer's input size; hidden_size is 16/,
      ],
      [
        ["--method", "gptq", "--bits", "4", "--calibration", join(dir, "none.txt")],
        /--calibration/,
      ],
    ];
    for (const [flags, message] of cases) {
      const out = join(dir, "bad");
      const r = cli(["quantize", run, ...flags, "--out", out]);
      const lines = r.stderr.split("\n").filter((l) => l !== "");
      expect(r.status, r.stderr).toBe(2);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
    expect(cli(["quantize", run, "--method", "rtn", "--bits", "8"]).stderr).toMatch(
      /--out is required/,
    );
  });
});
