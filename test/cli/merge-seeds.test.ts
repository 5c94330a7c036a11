/**
 * `rankwise merge` (built CLI) with a seeds' method that measures calibration statistics
 * (uncertainty_gm: every model's and the base's Fisher): exit 0, a line per measured model, a
 * model folder that `rankwise eval` scores; and a config without calibration is one line, exit 2,
 * nothing written.
 */
import { cpSync, existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { beforeAll, expect, test } from "vitest";
import { CharTokenizer } from "../../src/data/tokenizer.js";
import { tokenizerFileText } from "../../src/data/tokenizer-file.js";
import { cli, cliOk, requireBuild, tempDir } from "./run-cli.js";

const TEXT = "a bad cab faced a dead bee. ".repeat(40);
let dir: string;
let models: string;

beforeAll(() => {
  requireBuild();
  dir = tempDir();
  models = join(dir, "models");
  cpSync(resolve("test/fixtures/merge/models"), models, { recursive: true });
  writeFileSync(
    join(models, "base", "tokenizer.json"),
    tokenizerFileText(CharTokenizer.fromText(TEXT)),
  );
  writeFileSync(join(dir, "text.txt"), TEXT);
});

const yamlFile = (name: string, text: string) => {
  const path = join(dir, `${name}.yml`);
  writeFileSync(path, text.replaceAll("@", models).replaceAll("TEXT", join(dir, "text.txt")));
  return path;
};

test("uncertainty_gm end to end: statistics of each model, then a folder eval opens", () => {
  const config = yamlFile(
    "ugm",
    `merge_method: uncertainty_gm
base_model: @/base
calibration: {data: TEXT, samples: 2, seq_len: 12}
parameters: {delta_0: 1.0e-12}
models:
  - model: @/a
    parameters: {weight: 0.5}
  - model: @/b
`,
  );
  const out = join(dir, "merged");
  const r = cliOk(["merge", config, "--out", out]);
  expect(r.stderr).toMatch(
    /^merging 21 tensors \(2 layers\) of 3 models by uncertainty_gm into .*merged\n(calibration statistics of .*(a|b|base) measured\n){3}$/,
  );
  expect(r.stdout).toMatch(/^merged 21 tensors \(2 layers\) by uncertainty_gm into /);
  const evaluated = JSON.parse(
    cliOk([
      "eval",
      out,
      "--data",
      join(dir, "text.txt"),
      "--seq-len",
      "8",
      "--batch-size",
      "2",
      "--json",
    ]).stdout,
  );
  expect(Number.isFinite(evaluated.loss)).toBe(true);
});

test("no calibration: one line naming the key, exit 2, nothing written", () => {
  const config = yamlFile(
    "nocal",
    "merge_method: mats\nbase_model: @/base\nmodels:\n  - model: @/a\n",
  );
  const out = join(dir, "never");
  const r = cli(["merge", config, "--out", out]);
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(
    /^rankwise: merge_method mats needs calibration text: set calibration: \{data: <corpus name or text file>, samples, seq_len, seed\} at the top level or per model \(missing for .*\/a\)\n$/,
  );
  expect(existsSync(out)).toBe(false);
});
