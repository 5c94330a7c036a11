/**
 * Bad input (issue 3): every mistake gives one line naming the problem (with the accepted values
 * where there is a list), exit code 2, no stack trace unless --debug, and leaves what was already
 * written byte for byte as it was.
 */
import { spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { optimizerNames } from "../../src/train/registry.js";
import {
  type CliResult,
  cli,
  cliAsync,
  cliOk,
  FAST,
  ROOT,
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
    [
      "a loss reweighting the checkpoint did not use",
      ["--reweight", "loss-linear"],
      [
        /^rankwise: cannot resume: reweight is "loss-linear.*" but the checkpoint was trained with unset$/m,
      ],
    ],
    [
      "a regulariser the checkpoint did not use",
      ["--regularizer", "norm:0.1"],
      [/cannot resume: regularizer is "norm:0\.1" but the checkpoint was trained with unset/],
    ],
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

describe("finetune and adapter: a bad adapter flag is one line, nothing is created", () => {
  // The base is the finished 4-step run; --out names a folder that must never appear.
  const cases: [string, string[], RegExp[]][] = [
    [
      "unknown --adapter",
      ["--adapter", "qlora"],
      [/--adapter must be one of lora, dora, pissa, olora, lora-ga, eva/, /"qlora"/],
    ],
    ["missing --adapter", [], [/--adapter is required: one of lora, dora/]],
    ["--rank 0", ["--adapter", "lora", "--rank", "0"], [/--rank must be an integer from 1/, /"0"/]],
    ["--rank not a number", ["--adapter", "lora", "--rank", "x"], [/--rank must be an integer/]],
    [
      "--alpha NaN",
      ["--adapter", "lora", "--alpha", "NaN"],
      [/--alpha must be a finite number > 0/],
    ],
    ["--alpha negative", ["--adapter", "dora", "--alpha", "-2"], [/--alpha must be/, /"-2"/]],
    [
      "--target naming no module",
      ["--adapter", "lora", "--target", "qq_proj"],
      [/target_modules \["qq_proj"\] matches no Linear or Embedding module/, /q_proj/],
    ],
    [
      "--target empty item",
      ["--adapter", "lora", "--target", "q_proj,"],
      [/--target must be a comma-separated list/],
    ],
    [
      "--rank larger than PiSSA can take",
      ["--adapter", "pissa", "--rank", "1000"],
      [/PiSSA needs r ≤ min\(out, in\)/],
    ],
    ["unknown --tokenizer", ["--adapter", "lora", "--tokenizer", "words"], [/--tokenizer must be/]],
    [
      "a corpus the base's char vocabulary cannot encode",
      ["--adapter", "lora", "--data", "sotu"],
      [/corpus sotu has text the base model's tokenizer cannot encode/, /--tokenizer byte/],
    ],
    [
      "--optimizer unknown",
      ["--adapter", "lora", "--optimizer", "nope"],
      [/unknown optimizer "nope"/],
    ],
  ];
  for (const [name, args, patterns] of cases) {
    test.concurrent(name, async () => {
      const out = join(tempDir(), "ft");
      const r = await cliAsync([
        "finetune",
        "--model",
        run,
        ...FAST.slice(2),
        "--steps",
        "2",
        "--out",
        out,
        ...args,
      ]);
      expectUsageError(r, ...patterns);
      expect(existsSync(out)).toBe(false);
      expect(snapshot(run)).toEqual(before);
    });
  }

  test("--model that is no model, and --resume of a training run", () => {
    expectUsageError(
      cli(["finetune", "--model", join(files, "nothing-here"), "--adapter", "lora", "--quiet"]),
      /no model at .*nothing-here/,
    );
    expectUsageError(
      cli(["finetune", "--resume", run, "--steps", "9", "--quiet"]),
      /is a training run, not a fine-tuning run/,
    );
    expect(snapshot(run)).toEqual(before);
  });

  test("adapter inspect and merge on a folder that is no adapter", () => {
    expectUsageError(cli(["adapter", "inspect", files]), /is not a PEFT adapter folder/);
    const out = join(tempDir(), "merged");
    expectUsageError(
      cli(["adapter", "merge", "--model", run, "--adapter", files, "--out", out]),
      /is not a PEFT adapter folder/,
    );
    expectUsageError(
      cli(["adapter", "merge", "--model", run, "--out", out]),
      /--adapter is required/,
    );
    expect(existsSync(out)).toBe(false);
  });
});

describe("generate, inspect and compare", () => {
  test("generate on a folder without a checkpoint", () => {
    const empty = tempDir();
    expectUsageError(
      cli(["generate", empty]),
      /is neither a run folder \(no checkpoint\/\) nor a model folder \(no config\.json\)/,
    );
  });

  test("generate and eval: models, adapters, tokenizers and data that do not fit", () => {
    const cases: [string[], RegExp][] = [
      [["generate", join(files, "no-model")], /no model at .*no-model: expected a run folder/],
      [
        ["generate", run, "--adapter", join(files, "none")],
        /--adapter .*none: no such adapter folder/,
      ],
      [
        ["generate", run, "--tokenizer", "char"],
        /--tokenizer char learns its vocabulary from a corpus/,
      ],
      [["generate", run, "--tokenizer", join(files, "bad.json")], /bad\.json is not valid JSON/],
      [["eval", join(run, "checkpoint")], /--data is required for a model folder or Hub id/],
      [["eval", run, "--batch-size", "0"], /--batch-size must be an integer/],
      [
        ["eval", run, "--tokenizer", "byte"],
        /the tokenizer has 256 tokens but the model's vocab_size/,
      ],
      [
        ["eval", join(files, "notes.txt"), "--data", "sotu"],
        /notes\.txt is a file; the model must be a run folder/,
      ],
    ];
    for (const [args, pattern] of cases) expectUsageError(cli(args), pattern);
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

/** Exit code 2 and exactly this one line on stderr (after "rankwise: "). */
function expectExactly(r: CliResult, message: string): void {
  expect(r.status, r.stderr).toBe(2);
  expect(r.stderr).toBe(`rankwise: ${message}\n`);
}

describe("issue 8: each known bad input, with its exact message", () => {
  test("RANKWISE_THREADS that is not a thread count (no stack trace)", () => {
    const r = spawnSync(process.execPath, [join(ROOT, "bin", "rankwise.js"), "train", "--quiet"], {
      env: { ...process.env, RANKWISE_THREADS: "abc" },
      encoding: "utf8",
    });
    expectExactly(
      { status: r.status, stdout: r.stdout, stderr: r.stderr },
      'RANKWISE_THREADS must be an integer from 1 to 256, got "abc"',
    );
  });

  // Each of these once hung (Node's recursive mkdir loops on /proc) or wrote elsewhere: all are
  // refused before any data is loaded, within seconds.
  const outputs: [string, () => string, (out: string) => string][] = [
    [
      "a folder /proc cannot hold",
      () => "/proc/x",
      () => "cannot create a folder in /proc (ENOENT)",
    ],
    ["a file", () => join(files, "notes.txt"), (o) => `${o} is a file, not a folder (EEXIST)`],
    [
      "a path through a file",
      () => join(files, "notes.txt", "run"),
      () => `${join(files, "notes.txt")} is a file, not a folder (ENOTDIR)`,
    ],
  ];
  for (const [name, path, message] of outputs) {
    for (const command of ["train", "compare"]) {
      test.concurrent(`${command} --out ${name}`, async () => {
        const out = path();
        const started = performance.now();
        const extra = command === "compare" ? ["--optimizers", "adamw"] : [];
        const r = await cliAsync([command, ...FAST, "--steps", "2", "--out", out, ...extra]);
        expectExactly(r, `--out ${out}: ${message(out)}`);
        expect(performance.now() - started).toBeLessThan(10_000);
      });
    }
  }

  test.skipIf(process.getuid?.() === 0)("--out in a folder without write permission", () => {
    const locked = join(tempDir(), "locked");
    mkdirSync(locked, { mode: 0o500 });
    const out = join(locked, "run");
    expectExactly(
      cli(["train", ...FAST, "--out", out]),
      `--out ${out}: permission denied (${locked}) (EACCES)`,
    );
  });

  test("a run too large for the engine's memory is bad input, not an internal error", () => {
    const out = join(tempDir(), "huge");
    expectExactly(
      cli(["train", ...FAST, "--seq-len", "8192", "--steps", "2", "--out", out]),
      "out of memory: Allocation exceeds the 4 GiB memory32 limit (try a smaller --model, --batch-size or --seq-len)",
    );
  });

  test("resuming on a corpus file that changed since the run started", () => {
    const dir = tempDir();
    const corpus = join(dir, "corpus.txt");
    writeFileSync(corpus, "the quick brown fox jumps over the lazy dog ".repeat(400));
    const out = join(dir, "run");
    cliOk(["train", ...FAST, "--steps", "1", "--data", corpus, "--out", out]);
    writeFileSync(corpus, "Zebra ".repeat(10), { flag: "a" });
    expectExactly(
      cli(["train", "--resume", out, "--steps", "2", "--quiet"]),
      `corpus ${corpus} no longer fits the run's tokenizer (was it changed?): character "Z" (U+005A) at offset 17600 is not in the vocabulary`,
    );
  });

  test("--resume with a different --out", () => {
    const other = join(tempDir(), "elsewhere");
    expectExactly(
      cli(["train", "--resume", run, "--out", other, "--steps", "8", "--quiet"]),
      `--out ${other} and --resume ${run} differ: a resumed run continues in its own folder (drop --out)`,
    );
    expect(snapshot(run)).toEqual(before);
  });

  test("--resume given the checkpoint folder points to its run folder", () => {
    expectExactly(
      cli(["train", "--resume", join(run, "checkpoint"), "--steps", "8", "--quiet"]),
      `--resume takes the run folder, not its checkpoint: use --resume ${run}`,
    );
  });

  test("--opt learningRate points to --lr", () => {
    expectExactly(
      cli(["train", ...FAST, "--out", run, "--opt", "learningRate=0.1"]),
      "the learning rate is not an optimizer option: set it with --lr (lr: in a config file)",
    );
  });

  test('a learning rate the checkpoint did not set reads as the default, not "undefined"', () => {
    expectExactly(
      cli(["train", "--resume", run, "--steps", "8", "--lr", "0.01", "--quiet"]),
      "cannot resume: lr is 0.01 but the checkpoint was trained with the optimizer's default",
    );
  });

  test("a missing config.json is blamed on config.json, with its path once", () => {
    const copy = tempDir();
    cpSync(run, copy, { recursive: true });
    rmSync(join(copy, "checkpoint", "config.json"));
    const r = cli(["train", "--resume", copy, "--steps", "8", "--quiet"]);
    expectUsageError(r, /corrupt checkpoint: .*config\.json/);
    expect(r.stderr).not.toContain("model.safetensors");
    expect(r.stderr.split(copy).length - 1).toBe(1);
  });

  test("inspect on a file that is not safetensors says so", () => {
    const path = join(files, "notes.txt");
    const r = cli(["inspect", path]);
    expectUsageError(r, /: not a safetensors file$/);
    const tiny = join(files, "tiny.bin");
    writeFileSync(tiny, "abc");
    expectExactly(
      cli(["inspect", tiny]),
      `${tiny}: file is 3 bytes long: not a safetensors file (one starts with an 8-byte header length)`,
    );
  });

  test("a truncated safetensors file is called truncated, with its path once", () => {
    const cut = join(files, "cut.safetensors");
    const whole = readFileSync(join(run, "checkpoint", "model.safetensors"));
    writeFileSync(cut, whole.subarray(0, 100));
    const r = cli(["inspect", cut]);
    expectUsageError(r, /\(truncated or damaged file\)$/);
    expect(r.stderr.split(cut).length - 1).toBe(1);
  });

  test("generate --length above its bound, and a prompt outside the vocabulary", () => {
    expectExactly(
      cli(["generate", run, "--length", "100001"]),
      '--length must be an integer from 0 to 100000, got "100001"',
    );
    expectExactly(
      cli(["generate", run, "--length", "1", "--prompt", "€"]),
      '--prompt: character "€" (U+20AC) at offset 0 is not in the vocabulary',
    );
  });

  test("compare: a bad option value in the last spec fails before anything trains", () => {
    const out = join(tempDir(), "cmp");
    const started = performance.now();
    expectExactly(
      cli(["compare", ...FAST, "--out", out, "--optimizers", "adamw", "sgd", "lion:b2=2"]),
      "optimizer lion: b2 must be in [0, 1), got 2",
    );
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(existsSync(out)).toBe(false);
  });

  test("compare: duplicates (defaults filled in) are refused", () => {
    const out = join(tempDir(), "cmp");
    expectExactly(
      cli(["compare", ...FAST, "--out", out, "--optimizers", "adamw", "lion", "adamw:b1=0.9"]),
      '--optimizers lists the same optimizer twice: "adamw" and "adamw:b1=0.9"',
    );
    expect(existsSync(out)).toBe(false);
  });

  test("compare into a folder that holds a comparison, or anything else", () => {
    const done = join(tempDir(), "cmp");
    cliOk(["compare", ...FAST, "--steps", "1", "--out", done, "--optimizers", "sgd"]);
    expectExactly(
      cli(["compare", ...FAST, "--out", done, "--optimizers", "sgd"]),
      `${done} already holds a comparison: continue it with compare --resume ${done}, or choose another --out`,
    );
    expectExactly(
      cli(["compare", ...FAST, "--out", files, "--optimizers", "sgd"]),
      `--out ${files} is not empty: choose a new or empty folder`,
    );
  });

  test("compare: --optimizers is required; --resume needs a comparison and takes no settings", () => {
    expectExactly(
      cli(["compare", ...FAST]),
      "compare needs --optimizers (e.g. --optimizers adamw lion)",
    );
    const empty = tempDir();
    expectExactly(
      cli(["compare", "--resume", empty]),
      `cannot resume: ${empty} holds no comparison (no compare.json)`,
    );
    expectExactly(
      cli(["compare", "--resume", empty, "--steps", "9"]),
      `compare --resume takes no other options (its settings are in ${join(empty, "compare.json")}); got --steps`,
    );
  });
});
