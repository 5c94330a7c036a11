/**
 * `finetune --adapter adalora` with total_step = the run's 8 steps (tinit 0, tfinal 0, deltaT 1;
 * global steps 0..7, as PEFT counts them), so the allocator's cubic budget prunes from init_r 3 to
 * target_r 2 per module by the last step (4·(1/8)³ per module rounds away): the validation
 * loss drops below the base's; the PEFT folder has total_step, a rank_pattern keeping exactly
 * target_r · modules triplets, and tensors sliced to them; the checkpoint keeps the full training
 * tensors with the dropped Λ entries exactly 0; `adapter merge` writes W + ΔW of that checkpoint and
 * the run folder opens (as eval does) to the same weights; an interrupted and resumed run equals
 * the straight one bit for bit (the allocator's state is in the checkpoint) and leaks nothing.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, expect, test } from "vitest";
import { adapterMergeCommand } from "../../src/cli/adapter.js";
import { loadCorpus } from "../../src/data/corpus.js";
import { CharTokenizer } from "../../src/data/tokenizer.js";
import { tokenizerFileText } from "../../src/data/tokenizer-file.js";
import * as tree from "../../src/engine/tree.js";
import { loadSafetensors } from "../../src/io/safetensors.js";
import { initLlama } from "../../src/nn/llama.js";
import { type LlamaConfig, llamaPreset } from "../../src/nn/llama-config.js";
import { openModel } from "../../src/nn/open-model.js";
import { loadModel, saveModel } from "../../src/nn/pretrained.js";
import { effectiveParams, loadAnyAdapter, shapesOf } from "../../src/peft/index.js";
import { finetune } from "../../src/train/finetune.js";
import { validateFinetuneConfig } from "../../src/train/finetune-config.js";
import { readMetrics } from "../../src/train/metrics.js";
import { closeness, liveBuffers, read, setup } from "../helpers/engine.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "rankwise-adalora-train-"));
let corpus: string;
let baseDir: string;

beforeAll(async () => {
  await setup();
  const dir = tempDir();
  corpus = join(dir, "corpus.txt");
  const text = loadCorpus("moby-dick").text.slice(0, 4000);
  writeFileSync(corpus, text);
  baseDir = join(dir, "base");
  const tokenizer = CharTokenizer.fromText(text);
  const config = llamaPreset("tiny", tokenizer.vocabSize, { max_position_embeddings: 64 });
  const params = initLlama(config, 7);
  await saveModel(baseDir, { config, params });
  tree.dispose(params);
  writeFileSync(join(baseDir, "tokenizer.json"), tokenizerFileText(tokenizer));
});

const config = (steps: number) =>
  validateFinetuneConfig({
    model: baseDir,
    data: corpus,
    adapter: "adalora",
    rank: 2,
    alpha: 4,
    target: "q_proj,v_proj",
    lr: 0.05,
    seqLen: 16,
    batchSize: 4,
    warmup: 0,
    evalEvery: 0,
    evalBatches: 2,
    checkpointEvery: 0,
    logEvery: 1,
    sampleLength: 0,
    seed: 3,
    steps,
  });

test("ranks get pruned to target_r; the folder is PEFT's; merge and eval open it", async () => {
  const out = tempDir();
  const result = await finetune({ config: config(8), out, quiet: true });
  const start = readMetrics(join(out, "metrics.jsonl")).find(
    (r) => r.type === "start",
  ) as unknown as {
    baseValLoss: number;
  };
  expect(result.valLoss).toBeLessThan(start.baseValLoss);

  const json = JSON.parse(readFileSync(join(out, "adapter", "adapter_config.json"), "utf8"));
  expect(json).toMatchObject({ peft_type: "ADALORA", init_r: 3, target_r: 2, total_step: 8 });
  const patterns = Object.entries(json.rank_pattern as Record<string, boolean[]>);
  expect(patterns.length).toBeGreaterThan(0);
  const kept = patterns.reduce((n, [, m]) => n + m.filter(Boolean).length, 0);
  expect(kept).toBe(2 * patterns.length);

  const model = await loadModel(baseDir);
  const folder = (await loadSafetensors(join(out, "adapter", "adapter_model.safetensors"))).tensors;
  const trained = await loadAnyAdapter(join(out, "checkpoint"), shapesOf(model.params));
  for (const [key, mask] of patterns) {
    const name = key.slice(0, -".lora_E".length);
    const r = mask.filter(Boolean).length;
    expect(folder[`base_model.model.${name}.lora_A`].shape).toEqual([
      r,
      (model.config as LlamaConfig).hidden_size,
    ]);
    const e = read(trained.params[`${name}.lora_E`]);
    mask.forEach((keep, i) => {
      if (!keep) expect(e[i]).toBe(0);
    });
  }
  tree.dispose(folder);

  const merged = join(tempDir(), "merged");
  await adapterMergeCommand({ model: baseDir, adapter: join(out, "adapter"), out: merged });
  const m = await loadModel(merged);
  const eff = effectiveParams(tree.ref(model.params), trained.params, trained.plan);
  const opened = await openModel(out);
  for (const k of Object.keys(eff)) {
    expect(closeness(read(m.params[k]), read(eff[k]), 1e-6, 1e-6).ratio, k).toBeLessThanOrEqual(1);
    expect(read(opened.params[k]), k).toEqual(read(m.params[k]));
  }
  tree.dispose([eff, m.params, model.params, opened.params]);
}, 90_000);

test("interrupted at step 3 and resumed = 6 steps straight, bit for bit, leaking nothing", async () => {
  const straight = tempDir();
  await finetune({ config: config(6), out: straight, quiet: true });
  const before = await liveBuffers();
  const cut = tempDir();
  const stop = new AbortController();
  const first = await finetune({
    config: config(6),
    out: cut,
    quiet: true,
    signal: stop.signal,
    gradientHook: (g, step) => {
      if (step === 3) stop.abort();
      return g;
    },
  });
  expect(first).toMatchObject({ interrupted: true, step: 3 });
  const resumed = await finetune({ config: config(6), out: cut, quiet: true, resume: true });
  expect(resumed.step).toBe(6);
  expect(await liveBuffers()).toBe(before);
  for (const file of [
    "checkpoint/adapter_model.safetensors",
    "checkpoint/optimizer.safetensors",
    "adapter/adapter_model.safetensors",
    "adapter/adapter_config.json",
  ])
    expect(
      Buffer.compare(readFileSync(join(straight, file)), readFileSync(join(cut, file))),
      file,
    ).toBe(0);
}, 90_000);
