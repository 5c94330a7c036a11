/**
 * `rankwise adapter convert` and `adapter combine` end to end: the built command writes PEFT
 * LoRA folders that load against the base model and carry the ΔW the library computes (checked
 * here against a host s·B·A), reports each module's rank and error (text and --json), needs
 * --model for DoRA, extracts from two model folders with mergekit's modules_to_save, and
 * answers every bad input with one line and exit code 2.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { initLlama, type LlamaParams } from "../../src/nn/llama.js";
import { llamaConfig } from "../../src/nn/llama-config.js";
import { saveModel } from "../../src/nn/pretrained.js";
import { loadAdapter, saveAdapter, shapesOf } from "../../src/peft/index.js";
import {
  fromDevice,
  hostDelta,
  hostLora,
  matmul,
  randomHost,
  relDiff,
  rng,
  toDevice,
} from "../peft/extract-host.js";
import { cliAsync, cliOk, requireBuild, tempDir } from "./run-cli.js";

const config = llamaConfig({
  vocab_size: 24,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 1,
  num_attention_heads: 4,
  num_key_value_heads: 2,
});
let dir: string;
let base: LlamaParams;
let baseDir: string;
let tunedDir: string;
let lora: string;
let lora2: string;
let dora: string;
let loraHost: ReturnType<typeof hostLora>;

beforeAll(async () => {
  const { setup } = await import("../helpers/engine.js");
  await setup();
  requireBuild();
  dir = tempDir("rankwise-adapter-tools-");
  base = initLlama(config, 4);
  baseDir = join(dir, "base");
  await saveModel(baseDir, { config, params: base });
  const tuned: LlamaParams = {};
  const next = rng(3);
  for (const [k, v] of Object.entries(base))
    tuned[k] = k.endsWith("o_proj.weight")
      ? v.ref.add(toDevice(matmul(randomHost(16, 2, next, 0.1), randomHost(2, 16, next, 0.1))))
      : v.ref;
  tunedDir = join(dir, "tuned");
  await saveModel(tunedDir, { config, params: tuned });
  tree.dispose(tuned);
  loraHost = hostLora(base, { r: 3, loraAlpha: 6, targetModules: ["q_proj", "up_proj"] }, 5);
  lora = join(dir, "lora");
  await saveAdapter(lora, loraHost.adapter);
  const second = hostLora(base, { r: 2, loraAlpha: 2, targetModules: ["q_proj"] }, 6);
  lora2 = join(dir, "lora2");
  await saveAdapter(lora2, second.adapter);
  tree.dispose(second.adapter.params);
  const d = hostLora(base, { r: 2, useDora: true, targetModules: ["v_proj"] }, 7);
  dora = join(dir, "dora");
  await saveAdapter(dora, d.adapter);
  tree.dispose(d.adapter.params);
}, 60_000);

afterAll(() => {
  tree.dispose([base, loraHost.adapter.params]);
});

describe("adapter convert", () => {
  test("a LoRA folder at --rank 4: its own rank 3, exact, loads against the base, the text report", async () => {
    const out = join(dir, "converted");
    const r = cliOk(["adapter", "convert", lora, "--to", "lora", "--rank", "4", "--out", out]);
    expect(r.stdout).toMatch(/converted .* to LoRA/);
    expect(r.stdout).toMatch(/model\.layers\.0\.mlp\.up_proj\s+rank\s+3\s+error \d\.\d+e-\d+/);
    const loaded = await loadAdapter(out, shapesOf(base));
    for (const m of loaded.plan.modules) {
      expect(m.scaling).toBe(1);
      const b = fromDevice(loaded.params[`${m.name}.lora_B.weight`]);
      const a = fromDevice(loaded.params[`${m.name}.lora_A.weight`]);
      const want = hostDelta(base, loraHost.adapter, loraHost.host, m.name);
      expect(relDiff(matmul(b, a), want)).toBeLessThan(1e-5);
    }
    tree.dispose(loaded.params);
  });

  test("DoRA needs --model; with it the conversion runs", async () => {
    const [without, withBase] = await Promise.all([
      cliAsync([
        "adapter",
        "convert",
        dora,
        "--to",
        "lora",
        "--rank",
        "2",
        "--out",
        join(dir, "d1"),
      ]),
      cliAsync([
        "adapter",
        "convert",
        dora,
        "--to",
        "lora",
        "--rank",
        "16",
        "--model",
        baseDir,
        "--out",
        join(dir, "d2"),
        "--json",
      ]),
    ]);
    expect(without.status).toBe(2);
    expect(without.stderr.trim().split("\n")).toHaveLength(1);
    expect(without.stderr).toMatch(/DoRA.*--model/);
    expect(withBase.status, withBase.stderr).toBe(0);
    for (const m of JSON.parse(withBase.stdout).modules) expect(m.error).toBeLessThan(1e-5);
  });

  test("--from-models base tuned: rank-2 o_proj recovered, mergekit's modules_to_save", () => {
    const r = cliOk([
      "adapter",
      "convert",
      "--from-models",
      baseDir,
      tunedDir,
      "--to",
      "lora",
      "--rank",
      "2",
      "--out",
      join(dir, "extracted"),
      "--json",
    ]);
    const report = JSON.parse(r.stdout);
    expect(report.modulesToSave).toEqual([
      "embed_tokens",
      "input_layernorm",
      "post_attention_layernorm",
      "norm",
      "lm_head",
    ]);
    expect(report.modules).toHaveLength(7);
    for (const m of report.modules) {
      expect(m.rank).toBe(m.name.endsWith("o_proj") ? 2 : 0); // ΔW = 0 elsewhere: left out
      expect(m.error).toBeLessThan(1e-5);
    }
    // Its modules_to_save combine only as differences from the base: --model.
    const half = cliOk([
      "adapter",
      "combine",
      join(dir, "extracted"),
      join(dir, "extracted"),
      "--method",
      "linear",
      "--weights",
      "0.5,0.5",
      "--model",
      baseDir,
      "--out",
      join(dir, "extracted-twice"),
      "--json",
    ]);
    const combined = JSON.parse(half.stdout);
    expect(combined.modulesToSave).toEqual(report.modulesToSave);
    expect(combined.modules.map((m: { rank: number }) => m.rank)).toEqual([4]);
  });
});

describe("adapter combine", () => {
  test("cat of two adapters: ranks add on the shared module, exact", async () => {
    const out = join(dir, "combined");
    const r = cliOk([
      "adapter",
      "combine",
      lora,
      lora2,
      "--method",
      "cat",
      "--weights",
      "1,-0.5",
      "--out",
      out,
      "--json",
    ]);
    const report = JSON.parse(r.stdout);
    expect(report.method).toBe("cat");
    expect(
      Object.fromEntries(
        report.modules.map((m: { name: string; rank: number }) => [m.name, m.rank]),
      ),
    ).toEqual({ "model.layers.0.self_attn.q_proj": 5, "model.layers.0.mlp.up_proj": 3 });
    for (const m of report.modules) expect(m.error).toBeLessThan(1e-5);
    const loaded = await loadAdapter(out, shapesOf(base));
    expect(loaded.plan.modules.map((m) => m.r).sort()).toEqual([3, 5]);
    tree.dispose(loaded.params);
  });
});

describe("bad input: one line, exit 2", () => {
  test("every case", async () => {
    const full = join(dir, "full");
    mkdirSync(full, { recursive: true });
    writeFileSync(join(full, "x"), "");
    const cases: [string[], RegExp][] = [
      [
        ["adapter", "convert", lora, "--to", "gguf", "--rank", "2", "--out", join(dir, "b1")],
        /--to gguf.*lora/,
      ],
      [
        ["adapter", "convert", lora, "--to", "lora", "--out", join(dir, "b2")],
        /--rank k.*--energy e/,
      ],
      [
        [
          "adapter",
          "convert",
          lora,
          "--to",
          "lora",
          "--rank",
          "2",
          "--energy",
          "0.9",
          "--out",
          join(dir, "b3"),
        ],
        /not both/,
      ],
      [
        ["adapter", "convert", lora, "--to", "lora", "--energy", "2", "--out", join(dir, "b4")],
        /\(0, 1\]/,
      ],
      [
        ["adapter", "convert", lora, "--to", "lora", "--rank", "two", "--out", join(dir, "b5")],
        /--rank two/,
      ],
      [
        [
          "adapter",
          "convert",
          "--from-models",
          baseDir,
          "--to",
          "lora",
          "--rank",
          "2",
          "--out",
          join(dir, "b6"),
        ],
        /two models/,
      ],
      [
        [
          "adapter",
          "convert",
          join(dir, "none"),
          "--to",
          "lora",
          "--rank",
          "2",
          "--out",
          join(dir, "b7"),
        ],
        /not a PEFT adapter folder/,
      ],
      [["adapter", "convert", lora, "--to", "lora", "--rank", "2", "--out", full], /not empty/],
      [
        [
          "adapter",
          "combine",
          lora,
          join(dir, "extracted"),
          "--method",
          "svd",
          "--out",
          join(dir, "b11"),
        ],
        /modules_to_save.*--model/,
      ],
      [
        ["adapter", "combine", lora, lora2, "--method", "mean", "--out", join(dir, "b8")],
        /cat, linear, svd, ties, dare/,
      ],
      [
        [
          "adapter",
          "combine",
          lora,
          lora2,
          "--method",
          "svd",
          "--weights",
          "1",
          "--out",
          join(dir, "b9"),
        ],
        /one finite number per adapter: 2/,
      ],
      [
        [
          "adapter",
          "combine",
          lora,
          dora,
          "--method",
          "cat",
          "--model",
          baseDir,
          "--out",
          join(dir, "b10"),
        ],
        /use --method linear or svd/,
      ],
    ];
    const results = await Promise.all(cases.map(([args]) => cliAsync(args)));
    results.forEach((r, i) => {
      const [args, pattern] = cases[i];
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr.trim().split("\n"), args.join(" ")).toHaveLength(1);
      expect(r.stderr, args.join(" ")).toMatch(pattern);
    });
  });
});
