/**
 * `finetune --adapter vera|randlora|miss` through `finetune()` as the CLI runs it: a few steps
 * lower the validation loss below the base's; the PEFT folder has the type's keys (VeRA and
 * RandLoRA with their shared projections, which stay bit for bit as initialised under AdamW with
 * weight decay: the freezing trainer zeroes their updates); it opens over the base
 * (applyAdapter) as the trained effective weights; `adapter merge` (merge) equals them; the ΔW
 * reader converts it.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { applyAdapter } from "../../src/nn/open-model.js";
import { loadModel } from "../../src/nn/pretrained.js";
import {
  convertAdapter,
  createTypedAdapter,
  disposeMergeState,
  effectiveParams,
  loadAnyAdapter,
  merge,
  planAdapter,
  readAdapterDelta,
  shapesOf,
} from "../../src/peft/index.js";
import { finetune } from "../../src/train/finetune.js";
import { validateFinetuneConfig } from "../../src/train/finetune-config.js";
import { readMetrics } from "../../src/train/metrics.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";
import { writeTinyBase } from "../helpers/tiny-base.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "rankwise-vera-train-"));
let corpus: string;
let baseDir: string;

beforeAll(async () => {
  await setup();
  ({ corpus, baseDir } = await writeTinyBase(tempDir()));
});

// VeRA trains two vectors per module: like IA³ it needs a larger step to move in a few steps.
const config = (adapter: string, rank: number, lr: number, steps = 10) =>
  validateFinetuneConfig({
    model: baseDir,
    data: corpus,
    adapter,
    rank,
    alpha: 2 * rank,
    target: "q_proj,v_proj,down_proj",
    lr,
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
  ["vera", "VERA", 8, 0.1, ["vera_lambda_b", "vera_lambda_d"], ["vera_A", "vera_B"]],
  [
    "randlora",
    "RANDLORA",
    4,
    0.02,
    ["randlora_lambda", "randlora_gamma"],
    ["randlora_A", "randlora_B"],
  ],
  ["miss", "MISS", 4, 0.02, ["miss_block"], []],
] as const)("%s", (adapter, peftType, rank, lr, tensors, shared) => {
  test("a few steps lower the loss; projections stay; the folder opens, merges and converts as trained", async () => {
    const out = tempDir();
    const cfg = config(adapter, rank, lr);
    const result = await finetune({ config: cfg, out, quiet: true });
    const rows = readMetrics(join(out, "metrics.jsonl"));
    const start = rows.find((r) => r.type === "start") as unknown as { baseValLoss: number };
    expect(result.valLoss).toBeLessThan(start.baseValLoss - 0.01);

    const folder = join(out, "adapter");
    const json = JSON.parse(readFileSync(join(folder, "adapter_config.json"), "utf8"));
    expect(json.peft_type).toBe(peftType);
    const model = await loadModel(baseDir);
    const adapted = await loadAnyAdapter(folder, shapesOf(model.params));
    const keys = Object.keys(adapted.params);
    for (const t of tensors) expect(keys.filter((k) => k.endsWith(`.${t}`))).toHaveLength(6);
    expect(keys.filter((k) => k.startsWith("base_model.")).sort()).toEqual(
      shared.map((s) => `base_model.${s}`),
    );
    if (shared.length > 0) {
      // The same seed draws the same projections: training left them bit for bit.
      const fresh = createTypedAdapter(model.params, adapted.config, cfg.seed);
      for (const s of shared)
        expect(read(adapted.params[`base_model.${s}`]), s).toEqual(
          read(fresh.params[`base_model.${s}`]),
        );
      tree.dispose(fresh.params);
    }

    const eff = effectiveParams(tree.ref(model.params), tree.ref(adapted.params), adapted.plan);
    const opened = await applyAdapter(tree.ref(model.params), folder);
    const { params: merged, state } = merge(model.params, adapted.params, adapted.plan);
    const delta = await readAdapterDelta(folder, shapesOf(model.params));
    const lora = convertAdapter(delta, { rank: 64 }, model.params);
    const loraPlan = planAdapter(lora.adapter.config, shapesOf(model.params));
    const viaLora = effectiveParams(tree.ref(model.params), lora.adapter.params, loraPlan);
    let moved = 0;
    let mergeErr = 0;
    let loraErr = 0;
    for (const m of adapted.plan.modules) {
      const k = `${m.name}.weight`;
      expect(read(opened[k]), k).toEqual(read(eff[k]));
      const e = read(eff[k]);
      const w = read(model.params[k]);
      const g = read(merged[k]);
      const l = read(viaLora[k]);
      for (let i = 0; i < e.length; i++) {
        mergeErr = Math.max(mergeErr, Math.abs(g[i] - e[i]));
        loraErr = Math.max(loraErr, Math.abs(l[i] - e[i]));
        moved = Math.max(moved, Math.abs(e[i] - w[i]));
      }
    }
    expect(mergeErr).toBeLessThan(1e-6);
    expect(loraErr).toBeLessThan(1e-4);
    expect(moved).toBeGreaterThan(1e-4);
    disposeMergeState(state);
    delta.dispose();
    tree.dispose([eff, opened, merged, viaLora, adapted.params, model.params]);
  }, 60_000);
});

test("vera: interrupted at step 2 and resumed = 4 steps straight, bit for bit (shared projections too), leaking nothing", async () => {
  const straight = tempDir();
  await finetune({ config: config("vera", 8, 0.1, 4), out: straight, quiet: true });
  const before = await liveBuffers();
  const cut = tempDir();
  const stop = new AbortController();
  const first = await finetune({
    config: config("vera", 8, 0.1, 4),
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
    config: config("vera", 8, 0.1, 4),
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
