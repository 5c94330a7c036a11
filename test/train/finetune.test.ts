/**
 * Fine-tuning through `finetune()` as the CLI runs it (issue 10, items 5 and 6): an interrupted
 * and resumed run equals the straight one bit for bit (plain LoRA, and PiSSA whose residual base
 * must come back exactly); only the adapter trains (the base folder is untouched, the optimizer
 * state is shaped like the adapter); the start row's counts and the step-0 evaluation of the base
 * agree with an independent computation; a changed base refuses the resume in one line.
 */
import { cpSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, expect, test } from "vitest";
import { readTokenizerFile } from "../../src/data/tokenizer-file.js";
import { UsageError } from "../../src/engine/errors.js";
import * as tree from "../../src/engine/tree.js";
import { loadSafetensors } from "../../src/io/safetensors.js";
import { loadTree } from "../../src/io/state-file.js";
import { llamaLoss, llamaParamCount } from "../../src/nn/llama.js";
import { llamaPreset } from "../../src/nn/llama-config.js";
import { applyAdapter, openModel } from "../../src/nn/open-model.js";
import { loadModel } from "../../src/nn/pretrained.js";
import { applyResidual, effectiveParams, loadAdapter, shapesOf } from "../../src/peft/index.js";
import { DivergedError } from "../../src/train/diverged.js";
import { finetune } from "../../src/train/finetune.js";
import {
  adapterConfig,
  finetuneSettings,
  validateFinetuneConfig,
} from "../../src/train/finetune-config.js";
import { readMetrics } from "../../src/train/metrics.js";
import { evaluate, loadData } from "../../src/train/run-data.js";
import { liveBuffers, setup } from "../helpers/engine.js";
import { TINY_RUN, writeTinyBase } from "../helpers/tiny-base.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "rankwise-finetune-"));

let corpus: string;
let baseDir: string;

beforeAll(async () => {
  await setup();
  ({ corpus, baseDir } = await writeTinyBase(tempDir()));
});

const config = (adapter: string, steps: number, model = baseDir) =>
  validateFinetuneConfig({
    model,
    data: corpus,
    adapter,
    rank: 2,
    target: "q_proj,v_proj,down_proj",
    lr: 0.01,
    ...TINY_RUN,
    seed: 3,
    steps,
  });

const bytes = (path: string) => readFileSync(path);

test.each(["lora", "pissa"])(
  "%s: interrupted at step 3 and resumed = 6 steps straight, bit for bit",
  async (adapter) => {
    const straight = tempDir();
    await finetune({ config: config(adapter, 6), out: straight, quiet: true });
    const cut = tempDir();
    const stop = new AbortController();
    const first = await finetune({
      config: config(adapter, 6),
      out: cut,
      quiet: true,
      signal: stop.signal,
      gradientHook: (g, step) => {
        if (step === 3) stop.abort();
        return g;
      },
    });
    expect(first).toMatchObject({ interrupted: true, step: 3 });
    const resumed = await finetune({
      config: config(adapter, 6),
      out: cut,
      quiet: true,
      resume: true,
    });
    expect(resumed.step).toBe(6);
    for (const file of [
      "checkpoint/adapter_model.safetensors",
      "checkpoint/optimizer.safetensors",
      "adapter/adapter_model.safetensors",
      "adapter/adapter_config.json",
    ]) {
      expect(Buffer.compare(bytes(join(straight, file)), bytes(join(cut, file))), file).toBe(0);
    }
    const lastEval = (out: string) =>
      readMetrics(join(out, "metrics.jsonl"))
        .filter((r) => r.type === "eval")
        .at(-1) as { step: number; valLoss: number } | undefined;
    expect(lastEval(cut)).toMatchObject({ step: 6, valLoss: lastEval(straight)?.valLoss });
  },
  60_000,
);

test("only the adapter trains; the start row counts it and the base's loss before training", async () => {
  const before = bytes(join(baseDir, "model.safetensors"));
  const out = tempDir();
  const result = await finetune({ config: config("dora", 2), out, quiet: true });
  expect(Buffer.compare(bytes(join(baseDir, "model.safetensors")), before)).toBe(0);

  const adapter = (await loadSafetensors(join(out, "checkpoint", "adapter_model.safetensors")))
    .tensors;
  const shapes = new Set(tree.leaves(adapter).map((a: any) => JSON.stringify(a.shape)));
  const trainable = tree.size(adapter);
  tree.dispose(adapter);
  const opt = (await loadTree(join(out, "checkpoint", "optimizer.safetensors"))).tree;
  for (const leaf of tree.leaves(opt)) {
    if (tree.isArray(leaf) && leaf.ndim > 0) expect(shapes).toContain(JSON.stringify(leaf.shape));
  }
  tree.dispose(opt);

  const rows = readMetrics(join(out, "metrics.jsonl"));
  const start = rows.find((r) => r.type === "start") as Record<string, any>;
  const modelConfig = JSON.parse(readFileSync(join(baseDir, "config.json"), "utf8"));
  const cfg = llamaPreset("tiny", modelConfig.vocab_size, { max_position_embeddings: 64 });
  expect(start.trainableParameters).toBe(trainable);
  expect(result.trainableParameters).toBe(trainable);
  expect(start.baseParameters).toBe(llamaParamCount(cfg));
  expect(start.trainableShare).toBeCloseTo(trainable / llamaParamCount(cfg), 12);

  // The base's validation loss, evaluated here without jit on the same windows.
  const c = config("dora", 2);
  const data = loadData(c, readTokenizerFile(join(baseDir, "tokenizer.json")).toJSON());
  const base = await loadModel(baseDir);
  const want = await evaluate((p, x, y) => llamaLoss(p, x, y, cfg), base.params, data, c);
  tree.dispose(base.params);
  const eval0 = rows.find((r) => r.type === "eval" && r.step === 0) as Record<string, any>;
  expect(start.baseValLoss).toBeCloseTo(want, 5);
  expect(eval0.valLoss).toBe(start.baseValLoss);

  // The report's summary: trainable count and share, adapter size on disk, optimizer state, and
  // the base's loss before training.
  const html = readFileSync(join(out, "report.html"), "utf8");
  const cell = (key: string) =>
    new RegExp(`data-key="${key}" data-value="([^"]*)"`).exec(html)?.[1];
  expect(cell("trainableParameters")).toBe(String(trainable));
  expect(Number(cell("trainableShare"))).toBeCloseTo(trainable / llamaParamCount(cfg), 12);
  expect(cell("adapterBytes")).toBe(
    String(statSync(join(out, "adapter", "adapter_model.safetensors")).size),
  );
  expect(Number(cell("stateBytes"))).toBeGreaterThan(0);
  expect(Number(cell("baseValLoss"))).toBe(start.baseValLoss);
}, 60_000);

test("a base whose weights changed refuses the resume in one line", async () => {
  const dir = tempDir();
  const base = join(dir, "base");
  cpSync(baseDir, base, { recursive: true });
  const out = join(dir, "run");
  await finetune({ config: config("lora", 2, base), out, quiet: true });
  const weights = join(base, "model.safetensors");
  const b = bytes(weights);
  b[b.length - 1] ^= 1; // one bit of the last weight
  writeFileSync(weights, b);
  const resumed = finetune({ config: config("lora", 4, base), out, quiet: true, resume: true });
  await expect(resumed).rejects.toThrow(UsageError);
  await expect(
    finetune({ config: config("lora", 4, base), out, quiet: true, resume: true }),
  ).rejects.toThrow(/model\.safetensors changed since the run started/);
}, 60_000);

test("a fine-tuning run opens as its base + adapter; PiSSA's rank-2r adapter gives the trained weights", async () => {
  const out = tempDir();
  await finetune({ config: config("pissa", 3), out, quiet: true });
  const viaRun = await openModel(out);
  const folder = await openModel(baseDir);
  const viaFolder = { params: await applyAdapter(folder.params, join(out, "adapter")) };
  // The trained model itself: the residual base + s·B·A, from the checkpoint.
  const base = await loadModel(baseDir);
  const residual = (await loadTree(join(out, "checkpoint", "residual.safetensors")))
    .tree as Parameters<typeof applyResidual>[1];
  const trained = await loadAdapter(join(out, "checkpoint"), shapesOf(base.params));
  const want = effectiveParams(applyResidual(base.params, residual), trained.params, trained.plan);
  const saved = JSON.parse(readFileSync(join(out, "adapter", "adapter_config.json"), "utf8"));
  expect(saved).toMatchObject({ r: 4, lora_alpha: 16, init_lora_weights: true });
  let worst = 0;
  for (const [key, w] of Object.entries(want)) {
    const a = (await viaRun.params[key].ref.data()) as Float32Array;
    const b = (await viaFolder.params[key].ref.data()) as Float32Array;
    const c = (await w.ref.data()) as Float32Array;
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer)), key).toBe(true);
    for (let i = 0; i < c.length; i++) worst = Math.max(worst, Math.abs(a[i] - c[i]));
  }
  expect(worst).toBeLessThan(1e-5);
  tree.dispose([viaRun.params, viaFolder.params, want]);
}, 60_000);

test.each([
  ["dora", { use_dora: true, r: 2, init_lora_weights: true }],
  ["olora", { r: 4, lora_alpha: 16, init_lora_weights: true }],
  ["lora-ga", { r: 4, lora_alpha: 16, init_lora_weights: true }],
  ["eva", { init_lora_weights: "eva" }],
])(
  "%s trains and leaves a PEFT folder that opens over the base",
  async (adapter, fields) => {
    const out = tempDir();
    const result = await finetune({ config: config(adapter, 2), out, quiet: true });
    expect(Number.isFinite(result.valLoss)).toBe(true);
    const saved = JSON.parse(readFileSync(join(out, "adapter", "adapter_config.json"), "utf8"));
    expect(saved).toMatchObject({ peft_type: "LORA", ...fields });
    const opened = await openModel(out);
    tree.dispose(opened.params);
  },
  60_000,
);

test.each(["pissa", "lora-ga", "eva"])(
  "%s: finetune() and its resume leave no device buffers behind",
  async (adapter) => {
    const out = tempDir();
    await finetune({ config: config(adapter, 1), out, quiet: true }); // compiles, warms caches
    const before = await liveBuffers();
    const again = tempDir();
    await finetune({ config: { ...config(adapter, 2), sampleLength: 3 }, out: again, quiet: true });
    await finetune({ config: config(adapter, 3), out: again, quiet: true, resume: true });
    expect(await liveBuffers()).toBe(before);
  },
  60_000,
);

test("a non-finite adapter gradient is skipped as in train, and enough in a row stop the run", async () => {
  const poison = (g: Record<string, any>, step: number) =>
    step === 2 ? tree.map((x: any) => x.mul(Number.NaN), g) : g;
  const out = tempDir();
  const result = await finetune({
    config: config("lora", 3),
    out,
    quiet: true,
    gradientHook: poison,
  });
  expect(result.step).toBe(3);
  const skips = readMetrics(join(out, "metrics.jsonl")).filter((r) => r.type === "skip");
  expect(skips.map((r) => r.step)).toEqual([2]);

  const stop = tempDir();
  const always = (g: Record<string, any>) => tree.map((x: any) => x.mul(Number.NaN), g);
  const run = finetune({
    config: { ...config("lora", 5), maxBadSteps: 2 },
    out: stop,
    quiet: true,
    gradientHook: always,
  });
  await expect(run).rejects.toThrow(DivergedError);
}, 60_000);

test("--target: a comma-separated list of names, or PEFT's string all-linear", () => {
  const t = (target: string) => finetuneSettings({ adapter: "lora", target }).target;
  expect(t("q_proj")).toEqual(["q_proj"]);
  expect(t("q_proj, v_proj")).toEqual(["q_proj", "v_proj"]);
  expect(t("all-linear")).toBe("all-linear");
  expect(finetuneSettings({ adapter: "lora" }).target).toBeNull();
  expect(adapterConfig(finetuneSettings({ adapter: "lora" })).targetModules).toEqual([
    "q_proj",
    "v_proj",
  ]);
});
