/**
 * `rankwise export` (built CLI): a tiny byte-level model trained by `rankwise train` is exported
 * to GGUF and loaded by llama.cpp (node-llama-cpp, CPU prebuilt). llama.cpp's greedy
 * continuation of a prompt is the text `rankwise generate --temperature 0` prints; q8_0 of a
 * model whose rows are 16 wide keeps its matrices f16 and says so; `--json` reports the file;
 * bad flags are one line, exit 2, and write nothing.
 */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { getLlama, type Llama, type LlamaModel, type Token } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { cli, cliOk, requireBuild, tempDir } from "./run-cli.js";

let dir: string;
let run: string;
let llama: Llama;
const loaded: LlamaModel[] = [];

beforeAll(async () => {
  requireBuild();
  dir = tempDir("rankwise-export-");
  run = join(dir, "run");
  // 300 steps (~8 s): enough for a greedy continuation that is more than repeated spaces.
  cliOk([
    "train",
    ...["--model", "tiny", "--tokenizer", "byte", "--seq-len", "16", "--batch-size", "8"],
    ...["--steps", "300", "--lr", "0.01", "--seed", "5", "--quiet", "--out", run],
  ]);
  llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
});

afterAll(async () => {
  for (const m of loaded) await m.dispose();
});

async function load(path: string): Promise<LlamaModel> {
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  loaded.push(model);
  return model;
}

/** Exit code 2, one "rankwise: ..." line matching `pattern`. */
function expectUsageError(args: string[], pattern: RegExp): void {
  const r = cli(args);
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  expect(r.status, r.stderr).toBe(2);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^rankwise: /);
  expect(lines[0]).toMatch(pattern);
}

describe("export --format gguf", () => {
  test("llama.cpp continues a prompt exactly as `rankwise generate` does (f32)", async () => {
    const out = join(dir, "model-f32.gguf");
    const r = cliOk(["export", run, "--format", "gguf", "--out", out]);
    expect(r.stdout).toMatch(/^exported .* GGUF f32, \d+ tensors/);
    expect(statSync(out).size).toBeGreaterThan(0);

    // The run's window is its --seq-len (16): prompt + continuation stay within it, where
    // llama.cpp (whole context) and generate (sliding window) see the same tokens.
    const prompt = "The ";
    const length = 12;
    const generated = cliOk([
      "generate",
      run,
      ...["--prompt", prompt, "--length", String(length), "--temperature", "0"],
    ]).stdout;

    const model = await load(out);
    const ids = model.tokenize(prompt);
    expect(ids).toEqual(Array.from(new TextEncoder().encode(prompt)));
    const context = await model.createContext({
      contextSize: 64,
      flashAttention: false,
      experimentalKvCacheKeyType: "F32",
      experimentalKvCacheValueType: "F32",
    });
    const tokens: Token[] = [];
    for await (const token of context.getSequence().evaluate(ids, { temperature: 0 })) {
      tokens.push(token);
      if (tokens.length === length) break;
    }
    await context.dispose();
    expect(`${prompt}${model.detokenize(tokens)}\n`).toBe(generated);
    expect(new Set(generated.slice(prompt.length)).size).toBeGreaterThan(3); // not one repeated byte
  });

  test("q8_0 with 16-wide rows: matrices stay f16 (said on stderr); --json; llama.cpp loads it", async () => {
    const out = join(dir, "model-q8.gguf");
    const r = cliOk(["export", run, "--format", "gguf", "--type", "q8_0", "--out", out, "--json"]);
    expect(r.stderr).toMatch(
      /rows that are not a multiple of 32 and stay f16: .*blk\.0\.attn_q\.weight/,
    );
    const json = JSON.parse(r.stdout);
    expect(json).toMatchObject({ format: "gguf", type: "q8_0", path: out });
    expect(json.bytes).toBe(statSync(out).size);
    const model = await load(out);
    expect(model.tokenize("whale")).toEqual(Array.from(new TextEncoder().encode("whale")));
  });

  test("bad flags: one line, exit 2, nothing written", () => {
    const out = join(dir, "bad.gguf");
    expectUsageError(["export", run, "--out", out], /--format is required \(one of gguf\)/);
    expectUsageError(
      ["export", run, "--format", "onnx", "--out", out],
      /--format must be one of gguf, got "onnx"/,
    );
    expectUsageError(
      ["export", run, "--format", "gguf", "--type", "q5_1", "--out", out],
      /--type must be one of f32, f16, q8_0, q4_0, got "q5_1"/,
    );
    expectUsageError(["export", run, "--format", "gguf"], /--out <file> is required/);
    const folder = join(dir, "a-folder");
    mkdirSync(folder, { recursive: true });
    expectUsageError(["export", run, "--format", "gguf", "--out", folder], /is a folder/);
    expectUsageError(
      ["export", run, "--format", "gguf", "--out", join(dir, "missing", "m.gguf")],
      /does not exist/,
    );
    expectUsageError(
      ["export", join(dir, "no-model"), "--format", "gguf", "--out", out],
      /no model at/,
    );
    expect(existsSync(out)).toBe(false);
  });
});
