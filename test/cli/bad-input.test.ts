/**
 * Bad input (issue 3): every mistake gives one line naming the problem (with the accepted values
 * where there is a list), exit code 2, no stack trace unless --debug, and leaves what was already
 * written byte for byte as it was.
 */
import { cpSync, mkdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { optimizerNames } from "../../src/train/registry.js";
import {
  type CliResult,
  cli,
  cliAsync,
  cliOk,
  FAST,
  requireBuild,
  snapshot,
  tempDir,
} from "./run-cli.js";

/** Exit code 2 and a single "rankwise: ..." line matching every pattern, no stack frames. */
function expectUsageError(r: CliResult, ...patterns: RegExp[]): void {
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  expect(r.status, r.stderr).toBe(2);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^rankwise: /);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  for (const p of patterns) expect(lines[0]).toMatch(p);
}

let run: string; // a finished 4-step run
let before: Map<string, Buffer>;
let files: string; // config files and other inputs

beforeAll(() => {
  requireBuild();
  run = tempDir();
  cliOk(["train", ...FAST, "--steps", "4", "--log-every", "1", "--seed", "5", "--out", run]);
  before = snapshot(run);
  files = tempDir();
  writeFileSync(join(files, "bad.json"), "{ not json");
  writeFileSync(join(files, "bad.yaml"), "steps: [1, 2\nmodel: tiny\n");
  writeFileSync(join(files, "unknown.yaml"), "model: tiny\nnope: 1\n");
  writeFileSync(join(files, "list.yaml"), "- model\n- tiny\n");
  writeFileSync(join(files, "notes.txt"), "not a safetensors file, just some text\n");
});

describe("train: bad values are refused before anything is touched", () => {
  // Each runs with --out pointing at the finished run: it must come out unchanged.
  const cases: [string, string[], RegExp[]][] = [
    [
      "unknown optimizer",
      ["--optimizer", "nope"],
      [/unknown optimizer "nope"/, /accepted: .*adamw/],
    ],
    ["unknown model", ["--model", "huge"], [/--model/, /tiny, small, default, medium/, /huge/]],
    [
      "unknown corpus or missing file",
      ["--data", "no-such-corpus-or-file"],
      [/no-such-corpus-or-file/, /moby-dick/],
    ],
    ["corpus path is a folder", ["--data", "/"], [/not a file/]],
    ["unknown tokenizer", ["--tokenizer", "words"], [/--tokenizer/, /char, byte/]],
    ["unknown schedule", ["--schedule", "step"], [/--schedule/, /constant, cosine, linear, wsd/]],
    ["non-numeric steps", ["--steps", "abc"], [/--steps/, /"abc"/]],
    ["zero steps", ["--steps", "0"], [/--steps must be an integer ≥ 1/, /"0"/]],
    ["negative learning rate", ["--lr", "-1"], [/--lr must be a number > 0/, /"-1"/]],
    ["fractional batch size", ["--batch-size", "1.5"], [/--batch-size must be an integer/]],
    ["optimizer option out of range", ["--opt", "b1=2"], [/\bb1\b/, /\[0, 1\)/]],
    [
      "unknown optimizer option",
      ["--opt", "nope=1"],
      [/no option "nope"/, /accepted: b1, b2, eps, weightDecay, amsgrad/],
    ],
    ["non-numeric optimizer option", ["--opt", "b2=high"], [/b2 must be a number/]],
    ["--opt without '='", ["--opt", "b1"], [/--opt must look like key=value/]],
    ["unknown flag (commander)", ["--nope"], [/unknown option '--nope'/]],
    ["flag without its value (commander)", ["--lr"], [/--lr/, /argument missing/]],
  ];
  for (const [name, args, patterns] of cases) {
    test.concurrent(name, async () => {
      const r = await cliAsync(["train", ...FAST, "--steps", "3", "--out", run, ...args]);
      expectUsageError(r, ...patterns);
      expect(snapshot(run)).toEqual(before);
    });
  }

  test("the unknown-optimizer message lists every registered optimizer", () => {
    const r = cli(["train", ...FAST, "--optimizer", "nope", "--out", run]);
    expectUsageError(r);
    for (const name of optimizerNames()) expect(r.stderr).toContain(name);
  });

  test("--debug adds the stack trace", () => {
    const r = cli(["--debug", "train", ...FAST, "--steps", "abc", "--out", run]);
    expect(r.status).toBe(2);
    expect(r.stderr.split("\n")[0]).toMatch(/^rankwise: --steps/);
    expect(r.stderr).toMatch(/^\s+at /m);
    expect(snapshot(run)).toEqual(before);
  });
});

describe("train --config: unusable files", () => {
  const cases: [string, string, RegExp[]][] = [
    ["missing file", "missing.json", [/cannot read config file .*missing\.json/, /ENOENT/]],
    ["invalid JSON", "bad.json", [/bad\.json is not valid JSON/]],
    ["invalid YAML", "bad.yaml", [/bad\.yaml is not valid YAML/]],
    ["unknown key", "unknown.yaml", [/unknown configuration key "nope"/, /accepted: model, data/]],
    ["not a mapping", "list.yaml", [/must hold a mapping/]],
  ];
  for (const [name, file, patterns] of cases) {
    test.concurrent(name, async () => {
      const r = await cliAsync(["train", ...FAST, "--config", join(files, file), "--out", run]);
      expectUsageError(r, ...patterns);
      expect(snapshot(run)).toEqual(before);
    });
  }
});

describe("train --resume: refused resumes lose nothing", () => {
  test("a folder without a checkpoint", () => {
    const empty = tempDir();
    expectUsageError(
      cli(["train", "--resume", empty, "--steps", "8", "--quiet"]),
      /cannot resume: no checkpoint in/,
    );
    expect(snapshot(empty).size).toBe(0);
  });

  const incompatible: [string, string[], RegExp[]][] = [
    ["different model", ["--model", "small"], [/cannot resume: model is "small"/, /"tiny"/]],
    ["different seed", ["--seed", "6"], [/cannot resume: seed is 6/, /\b5\b/]],
    ["different optimizer", ["--optimizer", "sgd"], [/cannot resume: optimizer is "sgd"/]],
    ["different optimizer options", ["--opt", "b2=0.9"], [/cannot resume: optimizerOptions/]],
    [
      "--steps equal to the checkpoint's",
      ["--steps", "4"],
      [/--steps must be greater than the checkpoint's step \(4\)/],
    ],
    ["--steps below the checkpoint's", ["--steps", "2"], [/checkpoint's step \(4\), got 2/]],
  ];
  for (const [name, args, patterns] of incompatible) {
    test.concurrent(name, async () => {
      const r = await cliAsync(["train", "--resume", run, "--steps", "8", "--quiet", ...args]);
      expectUsageError(r, ...patterns);
      expect(snapshot(run)).toEqual(before);
    });
  }

  const corruptions: [string, (ck: string) => void, RegExp][] = [
    [
      "truncated model.safetensors",
      (ck) => truncateSync(join(ck, "model.safetensors"), 100),
      /corrupt checkpoint: .*model\.safetensors/,
    ],
    [
      "truncated optimizer.safetensors",
      (ck) => truncateSync(join(ck, "optimizer.safetensors"), 5),
      /corrupt checkpoint: .*optimizer\.safetensors/,
    ],
    [
      "garbage trainer.json",
      (ck) => writeFileSync(join(ck, "trainer.json"), "\u0000garbage{"),
      /corrupt checkpoint: .*trainer\.json/,
    ],
    [
      "trainer.json of another format",
      (ck) => writeFileSync(join(ck, "trainer.json"), '{"format": "something-else", "step": 4}'),
      /corrupt checkpoint: .*trainer\.json/,
    ],
    [
      "garbage config.json",
      (ck) => writeFileSync(join(ck, "config.json"), "[]"),
      /corrupt checkpoint: .*model\.safetensors|config\.json/,
    ],
  ];
  for (const [name, corrupt, pattern] of corruptions) {
    test.concurrent(`corrupt checkpoint: ${name}`, async () => {
      const copy = tempDir();
      cpSync(run, copy, { recursive: true });
      corrupt(join(copy, "checkpoint"));
      const damaged = snapshot(copy);
      const r = await cliAsync(["train", "--resume", copy, "--steps", "8", "--quiet"]);
      expectUsageError(r, pattern);
      expect(snapshot(copy)).toEqual(damaged);
      // generate reads checkpoints the same way.
      if (name === "truncated model.safetensors") {
        expectUsageError(await cliAsync(["generate", copy, "--length", "5"]), pattern);
      }
    });
  }
});

describe("generate, inspect and compare", () => {
  test("generate on a folder without a checkpoint", () => {
    const empty = tempDir();
    expectUsageError(cli(["generate", empty]), /no checkpoint in/);
  });

  test("generate with a non-numeric length names --length", () => {
    expectUsageError(cli(["generate", run, "--length", "abc"]), /--length must be an integer/);
  });

  test("inspect on a missing path", () => {
    expectUsageError(cli(["inspect", join(files, "nothing-here")]), /no such file or folder/);
  });

  test("inspect on a file that is not safetensors names it once", () => {
    const path = join(files, "notes.txt");
    const r = cli(["inspect", path]);
    expectUsageError(r, /notes\.txt/);
    expect(r.stderr.split(path).length - 1).toBe(1);
  });

  test("inspect on a folder with neither a checkpoint nor weights", () => {
    const dir = join(files, "empty-folder");
    mkdirSync(dir, { recursive: true });
    expectUsageError(cli(["inspect", dir]), /holds no checkpoint/);
  });

  test("compare validates every optimizer before training any", () => {
    const out = join(tempDir(), "cmp");
    const r = cli(["compare", ...FAST, "--out", out, "--optimizers", "adamw", "nope"]);
    expectUsageError(r, /unknown optimizer "nope"/);
    expectUsageError(
      cli(["compare", ...FAST, "--out", out, "--optimizers", "adamw", "lion:b2"]),
      /options must look like key=value/,
    );
    expect(() => snapshot(out)).toThrow(); // nothing was created
  });

  test("unknown command", () => {
    expectUsageError(cli(["fly"]), /unknown command 'fly'/);
  });
});
