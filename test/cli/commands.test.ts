/**
 * The other commands end to end: `optimizers` (the registry, with options and defaults),
 * `compare` (several optimizers on the same model, data, seed and steps; one report), `generate`
 * (sampling from a checkpoint), `inspect` (a run, a model folder or a .safetensors file) and
 * `--config FILE` (JSON or YAML; flags override it).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test, vi } from "vitest";
import { reportError } from "../../src/cli/errors.js";
import { tokenizerFromJSON } from "../../src/data/tokenizer.js";
import { OptionError, OptionTypeError, UsageError } from "../../src/engine/errors.js";
import * as tree from "../../src/engine/tree.js";
import { llamaForward } from "../../src/nn/llama.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { DEFAULT_CONFIG } from "../../src/train/config.js";
import { getOptimizer, optimizerNames } from "../../src/train/registry.js";
import { read, setup } from "../helpers/engine.js";
import { cliAsync, cliOk, cliSpawn, FAST, requireBuild, tempDir, trainRows } from "./run-cli.js";

let run: string; // a finished 8-step run

beforeAll(async () => {
  requireBuild();
  // Everything the CLI registers (optimizer families may register themselves on import).
  await import("../../src/cli/main.js");
  await setup();
  run = tempDir();
  cliOk(["train", ...FAST, "--steps", "8", "--log-every", "1", "--seed", "4", "--out", run]);
});

const configOf = (dir: string) =>
  JSON.parse(readFileSync(join(dir, "checkpoint", "trainer.json"), "utf8")).config;

describe("optimizers", () => {
  test("lists every registered optimizer with its options and defaults", () => {
    const text = cliOk(["optimizers"]).stdout;
    const sections = text.split(/\n(?=\S)/);
    expect(sections.map((s) => s.split(" ")[0])).toEqual(optimizerNames());
    for (const [i, name] of optimizerNames().entries()) {
      const entry = getOptimizer(name);
      const lines = sections[i]!.split("\n").map((l) => l.trim());
      expect(lines).toContain(`learningRate = ${entry.defaultLearningRate}`);
      for (const o of entry.options) {
        const def = o.default === undefined ? "unset" : String(o.default);
        expect(
          lines.some((l) => l.startsWith(`${o.name} = ${def} `)),
          `${name}.${o.name}`,
        ).toBe(true);
      }
    }
  });

  test("--json is the registry as data", () => {
    const list = JSON.parse(cliOk(["optimizers", "--json"]).stdout) as any[];
    expect(list.map((e) => e.name)).toEqual(optimizerNames());
    for (const e of list) {
      const entry = getOptimizer(e.name);
      expect(e.options).toEqual(entry.options);
      expect(e.defaultLearningRate).toBe(entry.defaultLearningRate);
      expect(typeof e.description).toBe("string");
      expect(typeof e.reference).toBe("string");
    }
  });
});

describe("compare", () => {
  test("three optimizers, one folder each, one combined report, a summary table", async () => {
    const out = join(tempDir(), "cmp");
    const specs = ["adamw", "sgd", "lion:b2=0.98"];
    const r = await cliAsync([
      "compare",
      ...FAST,
      "--steps",
      "5",
      "--warmup",
      "0",
      "--log-every",
      "1",
      "--seed",
      "3",
      "--out",
      out,
      "--optimizers",
      ...specs,
    ]);
    expect(r.status, r.stderr).toBe(0);
    const dirs = ["adamw", "sgd", "lion_b2=0.98"];
    // compare.json: the plan, for `compare --resume`.
    expect(readdirSync(out).sort()).toEqual([...dirs, "compare.json", "report.html"].sort());
    for (const dir of dirs) {
      for (const file of ["metrics.jsonl", "report.html", "checkpoint/trainer.json"]) {
        expect(existsSync(join(out, dir, file)), `${dir}/${file}`).toBe(true);
      }
    }
    expect(configOf(join(out, "lion_b2=0.98")).optimizerOptions).toEqual({ b2: 0.98 });
    expect(configOf(join(out, "sgd")).optimizer).toBe("sgd");

    const html = readFileSync(join(out, "report.html"), "utf8");
    for (const spec of specs) expect(html).toContain(spec);

    // Summary: a header and one row per optimizer with its final losses.
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^optimizer \| train loss \| val loss/);
    for (const [i, spec] of specs.entries()) {
      const cells = lines[2 + i]!.split(" | ");
      expect(cells[0]).toBe(spec);
      const last = trainRows(join(out, dirs[i]!)).at(-1)!;
      expect(Number(cells[1])).toBeCloseTo(last.loss, 4);
    }

    // Same seed: same initial parameters and the same first batch, hence the same first loss;
    // different optimizers then move apart.
    const rows = dirs.map((d) => trainRows(join(out, d)));
    for (const rs of rows) expect(rs.map((x) => x.step)).toEqual([1, 2, 3, 4, 5]);
    expect(rows[1]![0]!.loss).toBe(rows[0]![0]!.loss);
    expect(rows[2]![0]!.loss).toBe(rows[0]![0]!.loss);
    expect(new Set(rows.map((rs) => rs[1]!.loss)).size).toBe(3);
  });
});

describe("generate", () => {
  test("continues the prompt, the same way for the same seed", async () => {
    const args = ["generate", run, "--prompt", "the ", "--length", "20", "--seed", "1"];
    const [a, b, c] = await Promise.all([
      cliAsync(args),
      cliAsync(args),
      cliAsync([...args.slice(0, -1), "2"]),
    ]);
    for (const r of [a, b, c]) expect(r.status, r.stderr).toBe(0);
    const text = a.stdout.replace(/\n$/, "");
    expect(text.startsWith("the ")).toBe(true);
    expect([...text].length).toBe(4 + 20); // characters: a character-level model
    expect(b.stdout).toBe(a.stdout);
    expect(c.stdout).not.toBe(a.stdout);
  });

  test("streams: text arrives while a long generation is still running", async () => {
    const child = cliSpawn(["generate", run, "--length", "100000", "--prompt", "the "]);
    let out = "";
    const started = performance.now();
    const enough = await new Promise<boolean>((done) => {
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        if ([...out].length >= 4 + 50) done(true);
      });
      child.on("close", () => done(false));
    });
    const running = child.exitCode === null;
    child.kill("SIGKILL");
    // 100000 tokens take minutes; the first 50 come within seconds, before the process ends.
    expect(enough, out).toBe(true);
    expect(running).toBe(true);
    expect(out.startsWith("the ")).toBe(true);
    expect(performance.now() - started).toBeLessThan(30_000);
  });

  test("temperature 0 is greedy decoding of the model (checked with an unpadded forward pass)", async () => {
    const prompt = "Call me ";
    const r = cliOk(["generate", run, "--prompt", prompt, "--length", "6", "--temperature", "0"]);
    const generated = r.stdout.replace(/\n$/, "");
    expect(generated.startsWith(prompt)).toBe(true);

    const ck = await loadCheckpoint(run);
    const tokenizer = tokenizerFromJSON(ck.meta.tokenizer);
    const context = Array.from(tokenizer.encode(prompt));
    let expected = prompt;
    for (let i = 0; i < 6; i++) {
      const tokens = np.array(Int32Array.from(context), { dtype: np.int32 }).reshape([1, -1]);
      const logits = read(llamaForward(tree.ref(ck.params), tokens, ck.modelConfig));
      const last = logits.slice((context.length - 1) * ck.modelConfig.vocab_size);
      const order = Array.from(last.keys()).sort((x, y) => last[y]! - last[x]!);
      // A near-tie could be broken either way by rounding: compare only up to there.
      if (last[order[0]!]! - last[order[1]!]! < 1e-4) break;
      context.push(order[0]!);
      expected += tokenizer.decode(Int32Array.of(order[0]!));
    }
    tree.dispose(ck.params);
    tree.dispose(ck.optState);
    expect(expected.length).toBeGreaterThan(prompt.length);
    expect(generated.startsWith(expected)).toBe(true);
  });
});

describe("inspect", () => {
  test("a run folder: step, optimizer, model, parameters, state and last losses", async () => {
    const [text, json] = await Promise.all([
      cliAsync(["inspect", run]),
      cliAsync(["inspect", run, "--json"]),
    ]);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/step 8\/8, tiny model, optimizer adamw/);
    const summary = JSON.parse(json.stdout);
    const rows = trainRows(run);
    const params = JSON.parse(
      cliOk(["inspect", join(run, "checkpoint", "model.safetensors"), "--json"]).stdout,
    ).elements as number;
    expect(summary).toMatchObject({
      step: 8,
      targetSteps: 8,
      optimizer: "adamw",
      model: "tiny",
      parameters: params,
      optimizerStateBytes: 2 * 4 * params, // AdamW: two float32 moments
      lastTrainLoss: rows.at(-1)!.loss,
    });
    expect(summary.config.seed).toBe(4);
  });

  test("a .safetensors file and a model folder: every tensor with dtype and shape", async () => {
    const file = join(run, "checkpoint", "model.safetensors");
    const [text, json, folder] = await Promise.all([
      cliAsync(["inspect", file]),
      cliAsync(["inspect", file, "--json"]),
      cliAsync(["inspect", join(run, "checkpoint"), "--json"]),
    ]);
    expect(text.status, text.stderr).toBe(0);
    const header = JSON.parse(json.stdout);
    expect(JSON.parse(folder.stdout)).toEqual(header); // the folder's model.safetensors
    const config = JSON.parse(readFileSync(join(run, "checkpoint", "config.json"), "utf8"));
    const embed = header.tensors.find((t: any) => t.name === "model.embed_tokens.weight");
    expect(embed).toMatchObject({
      dtype: "F32",
      shape: [config.vocab_size, config.hidden_size],
    });
    const total = header.tensors.reduce(
      (n: number, t: any) => n + t.shape.reduce((a: number, b: number) => a * b, 1),
      0,
    );
    expect(header.elements).toBe(total);
    expect(header.metadata).toEqual({ format: "pt" });
    const lines = text.stdout.trim().split("\n");
    expect(lines[0]).toBe(`${file}: ${header.tensors.length} tensors, ${total} elements`);
    expect(lines).toContain(`  model.embed_tokens.weight  F32[${embed.shape.join(", ")}]`);
  });
});

describe("--config", () => {
  test("a YAML file sets the options; flags override it; --opt adds to its optimizer options", async () => {
    const dir = tempDir();
    const file = join(dir, "run.yaml");
    writeFileSync(
      file,
      [
        "# a run in YAML",
        "model: tiny",
        "seqLen: 16",
        "batchSize: 4",
        "sampleLength: 0",
        "steps: 2",
        "seed: 13",
        "logEvery: 1",
        "optimizer: lion",
        "optimizerOptions:",
        "  b2: 0.95",
        "",
      ].join("\n"),
    );
    const out = join(dir, "out");
    const r = await cliAsync([
      "train",
      "--config",
      file,
      "--steps",
      "3",
      "--opt",
      "weightDecay=0.1",
      "--out",
      out,
      "--quiet",
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(configOf(out)).toMatchObject({
      model: "tiny",
      seqLen: 16,
      seed: 13,
      steps: 3,
      optimizer: "lion",
      optimizerOptions: { b2: 0.95, weightDecay: 0.1 },
    });
    expect(trainRows(out).map((row) => row.step)).toEqual([1, 2, 3]);
  });

  test("a JSON file, with out given in the file", async () => {
    const dir = tempDir();
    const out = join(dir, "from-file");
    const file = join(dir, "run.json");
    writeFileSync(
      file,
      JSON.stringify({
        model: "tiny",
        seqLen: 16,
        batchSize: 4,
        sampleLength: 0,
        steps: 2,
        optimizer: "sgd",
        lr: 0.05,
        seed: 1,
        out,
      }),
    );
    const r = await cliAsync(["train", "--config", file, "--seed", "21", "--quiet"]);
    expect(r.status, r.stderr).toBe(0);
    expect(configOf(out)).toMatchObject({ optimizer: "sgd", lr: 0.05, seed: 21, steps: 2 });
  });
});

describe("--help", () => {
  test("every command shows its defaults, the values DEFAULT_CONFIG holds", () => {
    const flag = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    for (const command of ["train", "compare"]) {
      // One line per option (commander wraps long ones: join the continuation lines).
      const help = cliOk([command, "--help"]).stdout.replace(/\n {20,}/g, " ");
      for (const [key, value] of Object.entries(DEFAULT_CONFIG)) {
        if (typeof value === "object") continue; // optimizerOptions: given with --opt
        const line = help.split("\n").find((l) => l.trim().startsWith(`${flag(key)} `));
        if (line === undefined) continue; // evalBatches, valFraction, …: config-file only
        expect(line, `${command} ${flag(key)}`).toContain(`(default: ${value})`);
      }
      expect(help).toMatch(/--steps <n>.*\(default: 600\)/);
    }
    const generate = cliOk(["generate", "--help"]).stdout.replace(/\n {20,}/g, " ");
    expect(generate).toContain(`(default: ${DEFAULT_CONFIG.sampleLength})`);
    expect(generate).toMatch(/--length <n>.*at most 100000/);
    expect(generate).toMatch(/--temperature <t>.*\(default: 0\.8\)/);
  });
});

describe("how errors are reported", () => {
  const capture = (error: unknown) => {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((text) => {
      lines.push(String(text));
      return true;
    });
    try {
      return { code: reportError(error), text: lines.join("") };
    } finally {
      spy.mockRestore();
    }
  };

  test("the user's mistakes are one line and exit code 2", () => {
    for (const error of [
      new UsageError("--steps must be an integer ≥ 1"),
      new OptionError("b1 must be in [0, 1), got 2"),
      new OptionTypeError('adamw: unknown option "beta1"'),
    ]) {
      expect(capture(error)).toEqual({ code: 2, text: `rankwise: ${error.message}\n` });
    }
  });

  test("anything else is an internal error, exit code 1, never dressed as bad input", () => {
    for (const error of [new TypeError("x.map is not a function"), new RangeError("bad"), "str"]) {
      const message = error instanceof Error ? error.message : error;
      expect(capture(error)).toEqual({
        code: 1,
        text: `rankwise: internal error: ${message} (rerun with --debug for the stack trace)\n`,
      });
    }
  });
});
