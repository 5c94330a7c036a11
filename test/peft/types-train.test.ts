/**
 * Fine-tuning with registered adapter types through `finetune()` as the CLI runs it: IA³, LoHa and
 * LoKr each lower the validation loss below the base's in a few steps, train only their own
 * tensors (the optimizer state is shaped like the adapter), and leave a PEFT folder of their type
 * that opens over the base (applyAdapter) as the trained effective weights; an interrupted and
 * resumed LoKr run equals the straight one bit for bit and leaves no device buffers behind.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { loadTree } from "../../src/io/state-file.js";
import { applyAdapter } from "../../src/nn/open-model.js";
import { loadModel } from "../../src/nn/pretrained.js";
import { effectiveParams, loadAnyAdapter, shapesOf } from "../../src/peft/index.js";
import { finetune } from "../../src/train/finetune.js";
import { validateFinetuneConfig } from "../../src/train/finetune-config.js";
import { readMetrics } from "../../src/train/metrics.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";
import { writeTinyBase } from "../helpers/tiny-base.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "rankwise-types-train-"));
let corpus: string;
let baseDir: string;

beforeAll(async () => {
  await setup();
  ({ corpus, baseDir } = await writeTinyBase(tempDir()));
});

// IA³ trains a few scales only: it needs every linear layer and a larger step to move in 12 steps.
const config = (adapter: string, steps: number) =>
  validateFinetuneConfig({
    model: baseDir,
    data: corpus,
    adapter,
    rank: 2,
    alpha: 4,
    target: adapter === "ia3" ? "all-linear" : "q_proj,v_proj,down_proj",
    lr: adapter === "ia3" ? 0.2 : 0.05,
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

describe.each([
  ["ia3", "IA3", "ia3_l"],
  ["loha", "LOHA", "hada_w1_a"],
  ["lokr", "LOKR", "lokr_w1"],
])("%s", (adapter, peftType, tensor) => {
  test("a few steps lower the loss; only the adapter trains; its PEFT folder opens over the base", async () => {
    const out = tempDir();
    const result = await finetune({ config: config(adapter, 12), out, quiet: true });
    const rows = readMetrics(join(out, "metrics.jsonl"));
    const start = rows.find((r) => r.type === "start") as unknown as {
      baseValLoss: number;
      adapter: string;
    };
    expect(start.adapter).toBe(adapter);
    expect(result.valLoss).toBeLessThan(start.baseValLoss - 0.01);

    const json = JSON.parse(readFileSync(join(out, "adapter", "adapter_config.json"), "utf8"));
    expect(json.peft_type).toBe(peftType);
    const { tree: opt } = await loadTree(join(out, "checkpoint", "optimizer.safetensors"));
    const optKeys = tree.paths(opt).join("\n");
    expect(optKeys).toContain(tensor);
    expect(optKeys).not.toContain("_proj.weight"); // no base weight got optimizer state

    const model = await loadModel(baseDir);
    const adapted = await loadAnyAdapter(join(out, "adapter"), shapesOf(model.params));
    const eff = effectiveParams(tree.ref(model.params), adapted.params, adapted.plan);
    const opened = await applyAdapter(model.params, join(out, "adapter"));
    for (const m of adapted.plan.modules) {
      const k = `${m.name}.weight`;
      expect(read(opened[k])).toEqual(read(eff[k]));
    }
    tree.dispose([eff, opened]);
  }, 60_000);
});

test("lokr: interrupted at step 2 and resumed = 4 steps straight, bit for bit, leaking nothing", async () => {
  const straight = tempDir();
  await finetune({ config: config("lokr", 4), out: straight, quiet: true }); // also warms caches
  const before = await liveBuffers();
  const cut = tempDir();
  const stop = new AbortController();
  const first = await finetune({
    config: config("lokr", 4),
    out: cut,
    quiet: true,
    signal: stop.signal,
    gradientHook: (g, step) => {
      if (step === 2) stop.abort();
      return g;
    },
  });
  expect(first).toMatchObject({ interrupted: true, step: 2 });
  const resumed = await finetune({
    config: config("lokr", 4),
    out: cut,
    quiet: true,
    resume: true,
  });
  expect(resumed.step).toBe(4);
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
}, 60_000);
