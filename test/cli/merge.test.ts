/**
 * `rankwise merge` (built CLI): a real merge end to end whose output folder `rankwise eval`
 * opens and scores, and the bad configs, each one line naming the key and the accepted values
 * (exit 2) with nothing written.
 */
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { CharTokenizer } from "../../src/data/tokenizer.js";
import { tokenizerFileText } from "../../src/data/tokenizer-file.js";
import * as tree from "../../src/engine/tree.js";
import { initLlama } from "../../src/nn/llama.js";
import { fromHfConfig } from "../../src/nn/llama-config.js";
import { saveModel } from "../../src/nn/pretrained.js";
import { setup } from "../helpers/engine.js";
import { cli, cliOk, requireBuild, tempDir } from "./run-cli.js";

const FIXTURES = resolve("test/fixtures/merge/models");
const TEXT = "a bad cab faced a dead bee. ".repeat(40);
let dir: string;
let models: string;

beforeAll(async () => {
  requireBuild();
  await setup();
  dir = tempDir();
  models = join(dir, "models");
  cpSync(FIXTURES, models, { recursive: true });
  writeFileSync(
    join(models, "base", "tokenizer.json"),
    tokenizerFileText(CharTokenizer.fromText(TEXT)),
  );
  writeFileSync(join(dir, "text.txt"), TEXT);
  // A model of another vocabulary size, and one without weights.
  const json = JSON.parse(readFileSync(join(FIXTURES, "a", "config.json"), "utf8"));
  const config = fromHfConfig({ ...json, vocab_size: 40 });
  const params = initLlama(config, 1);
  await saveModel(join(models, "wide"), { config, params });
  tree.dispose(params);
  cpSync(join(FIXTURES, "a"), join(models, "empty"), { recursive: true });
  rmSync(join(models, "empty", "model.safetensors"));
});

const yamlFile = (name: string, text: string) => {
  const path = join(dir, `${name}.yml`);
  writeFileSync(path, text.replaceAll("@", models));
  return path;
};

test("a ties merge end to end: a model folder that eval opens", () => {
  const config = yamlFile(
    "ties",
    `merge_method: ties
base_model: @/base
parameters:
  density: 0.5
  weight: [0.5, 1.0]
models:
  - model: @/a
  - model: @/b
    parameters:
      density:
        - filter: mlp
          value: 0.3
        - value: 0.7
dtype: float32
`,
  );
  const out = join(dir, "merged");
  const r = cliOk(["merge", config, "--out", out]);
  expect(r.stderr).toMatch(/^merging 21 tensors \(2 layers\) of 3 models by ties into .*merged\n$/);
  expect(r.stdout).toMatch(
    /^merged 21 tensors \(2 layers\) by ties into .*: model\.safetensors, tokenizer\.json, mergekit_config\.yml, config\.json; peak memory \d+ MiB\n$/,
  );
  expect(readFileSync(join(out, "mergekit_config.yml"), "utf8")).toBe(readFileSync(config, "utf8"));
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
  expect(evaluated.tokens).toBeGreaterThan(0);
});

describe("bad configs: one line, exit 2, nothing written", () => {
  const ta = (models: string, extra = "") =>
    `merge_method: task_arithmetic\nbase_model: @/base\n${extra}models:\n${models}`;
  const rows: [string, string, RegExp, string[]?][] = [
    [
      "unknown method",
      "merge_method: frobnicate\nmodels:\n  - model: @/a\n",
      /merge_method "frobnicate" is unknown; accepted: linear, task_arithmetic, ties, dare_linear, dare_ties, breadcrumbs, breadcrumbs_ties, della, della_linear, slerp/,
    ],
    [
      "unknown model",
      ta("  - model: @/nothing-here\n    parameters: {weight: 1}\n"),
      /^rankwise: model .*nothing-here: no model at .*nothing-here: expected a run folder, a model folder or a Hub id/,
    ],
    [
      "mismatched shapes",
      ta("  - model: @/wide\n    parameters: {weight: 1}\n"),
      /^rankwise: mismatched shapes: model\.embed_tokens\.weight is \[32,16\] in .*base but \[40,16\] in .*wide|^rankwise: mismatched shapes: model\.embed_tokens\.weight is \[40,16\] in .*wide but \[32,16\] in .*base/,
    ],
    [
      "missing weights",
      ta("  - model: @/empty\n    parameters: {weight: 1}\n"),
      /^rankwise: model .*empty: missing weights \(no model\.safetensors in .*\)$/,
    ],
    [
      "density out of range",
      "merge_method: ties\nbase_model: @/base\nmodels:\n  - model: @/a\n    parameters: {weight: 1, density: 1.5}\n",
      /^rankwise: parameter "density" for model .*\/a must be in \[0, 1\] \(the share of each task vector kept\), got 1\.5 for model\.embed_tokens\.weight$/,
    ],
    [
      "no base_model",
      "merge_method: ties\nmodels:\n  - model: @/a\n    parameters: {weight: 1}\n",
      /^rankwise: merge_method ties needs base_model/,
    ],
    [
      "no weight",
      ta("  - model: @/a\n"),
      /^rankwise: merge_method task_arithmetic needs parameter "weight" for model .*\/a \(set it under the model's parameters or the top-level parameters\)$/,
    ],
    [
      "models and slices",
      "merge_method: linear\nmodels: []\nslices: []\n",
      /^rankwise: the merge config needs exactly one of models or slices$/,
    ],
    [
      "unknown key",
      "merge_method: linear\nmodles:\n  - model: @/a\n",
      /^rankwise: unknown key "modles" in the merge config; accepted: merge_method, base_model, models, slices, parameters, dtype, out_dtype, tokenizer_source, calibration$/,
    ],
    [
      "layer_range past the model",
      "merge_method: linear\nslices:\n  - sources:\n      - model: @/a\n        layer_range: [0, 5]\n        parameters: {weight: 1}\n",
      /^rankwise: slices\[0\]: layer_range \[0,5\] of .*\/a goes past its 2 layers$/,
    ],
    [
      "union without a tokenizer",
      `${ta("  - model: @/a\n    parameters: {weight: 1}\n")}tokenizer_source: union\n`,
      /^rankwise: tokenizer_source "union": model .*\/a has no tokenizer\.json; union needs every model's tokenizer$/,
    ],
    [
      // Found while merging (after the start line, hence --quiet), after 8 shards were written (one
      // tensor each): they are removed.
      "density keeps no entry",
      "merge_method: ties\nbase_model: @/base\nmodels:\n  - model: @/a\n    parameters: {weight: 1, density: 0.01}\n",
      /^rankwise: model\.layers\.0\.input_layernorm\.weight: density 0\.01 keeps no entry of a 16-element tensor \(⌊density·n⌋ = 0\): use density ≥ 0\.0625 or 1$/,
      ["--max-shard-size", "1", "--quiet"],
    ],
  ];
  for (const [what, text, pattern, extra = []] of rows) {
    test(what, () => {
      const out = join(dir, `bad-${what.replaceAll(" ", "-")}`);
      // Without --quiet: the start line only comes once the config is good.
      const r = cli(["merge", yamlFile(what.replaceAll(" ", "-"), text), "--out", out, ...extra]);
      const lines = r.stderr.split("\n").filter((l) => l !== "");
      expect(r.status, r.stderr).toBe(2);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(pattern);
      expect(existsSync(out)).toBe(false);
    });
  }

  test("--out is required", () => {
    const r = cli(["merge", join(dir, "ties.yml")]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe("rankwise: merge: --out <dir> is required (a new folder)");
  });
});
