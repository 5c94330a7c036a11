/**
 * `finetune --adapter lamda|lotr|flora|compacter|dsee` through `finetune()` as the CLI runs it:
 * a few steps lower the validation loss below the base's; the folder has the type's peft_type
 * and keys; the frozen tensors (LaMDA's A, DSEE's support) are bit for bit as initialised even
 * under AdamW's weight decay; the folder opens over the base (applyAdapter) as the trained
 * effective weights; `adapter merge` (merge) equals them; the ΔW reader converts it to LoRA.
 * Then LaMDA's gradual freezing of B, column by column, on a stand-in optimizer.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { applyAdapter } from "../../src/nn/open-model.js";
import { loadModel } from "../../src/nn/pretrained.js";
import type { GradientTransformation } from "../../src/optim/core.js";
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
import { typedConfig } from "../../src/peft/types/config.js";
import { frozenColumns, LAMDA, type LamdaModule } from "../../src/peft/types/lamda.js";
import { finetune } from "../../src/train/finetune.js";
import { validateFinetuneConfig } from "../../src/train/finetune-config.js";
import { readMetrics } from "../../src/train/metrics.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";
import { writeTinyBase } from "../helpers/tiny-base.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "rankwise-seeds2-train-"));
let corpus: string;
let baseDir: string;

beforeAll(async () => {
  await setup();
  ({ corpus, baseDir } = await writeTinyBase(tempDir()));
});

// AdamW with a large decay: frozen tensors must not move even so.
const config = (adapter: string, rank: number, lr: number, steps = 6) =>
  validateFinetuneConfig({
    model: baseDir,
    data: corpus,
    adapter,
    rank,
    alpha: 2 * rank,
    target: "q_proj,v_proj,down_proj",
    optimizer: "adamw",
    optimizerOptions: { weightDecay: 0.1 },
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
  ["lamda", "LAMDA", 4, 0.02, ["lamda_A", "lamda_S", "lamda_B"], ["lamda_A"]],
  ["lotr", "LOTR", 4, 0.02, ["lotr_mid"], []],
  ["flora", "FLORA", 4, 0.02, ["flora_param_G", "flora_param_0", "flora_param_1"], []],
  ["compacter", "COMPACTER", 4, 0.02, ["phm_down_W_left", "phm_up_W_right"], []],
  ["dsee", "DSEE", 4, 0.02, ["dsee_A", "dsee_B", "dsee_S", "dsee_S_index"], ["dsee_S_index"]],
] as const)("%s", (adapter, peftType, rank, lr, tensors, frozen) => {
  test("a few steps lower the loss; frozen tensors stay; the folder opens, merges and converts as trained", async () => {
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
    const fresh = createTypedAdapter(model.params, adapted.config, cfg.seed);
    for (const k of keys) {
      const same = frozen.some((f) => k.endsWith(`.${f}`));
      // Frozen: bit for bit as drawn; everything else that started non-zero or got a gradient moved.
      if (same) expect(read(adapted.params[k]), k).toEqual(read(fresh.params[k]));
    }
    const moved = keys.filter((k) => {
      const a = read(adapted.params[k]);
      const b = read(fresh.params[k]);
      return a.some((v, i) => v !== b[i]);
    });
    expect(moved.length).toBeGreaterThan(0);
    tree.dispose(fresh.params);

    const eff = effectiveParams(tree.ref(model.params), tree.ref(adapted.params), adapted.plan);
    const opened = await applyAdapter(tree.ref(model.params), folder);
    const { params: merged, state } = merge(model.params, adapted.params, adapted.plan);
    const delta = await readAdapterDelta(folder);
    const lora = convertAdapter(delta, { rank: 64 }, model.params);
    const loraPlan = planAdapter(lora.adapter.config, shapesOf(model.params));
    const viaLora = effectiveParams(tree.ref(model.params), lora.adapter.params, loraPlan);
    let change = 0;
    for (const m of adapted.plan.modules) {
      const k = `${m.name}.weight`;
      expect(read(opened[k]), k).toEqual(read(eff[k]));
      const e = read(eff[k]);
      const w = read(model.params[k]);
      const g = read(merged[k]);
      const l = read(viaLora[k]);
      for (let i = 0; i < e.length; i++) {
        expect(Math.abs(g[i] - e[i]), k).toBeLessThan(1e-6);
        expect(Math.abs(l[i] - e[i]), k).toBeLessThan(1e-4);
        change = Math.max(change, Math.abs(e[i] - w[i]));
      }
    }
    expect(change).toBeGreaterThan(1e-4);
    disposeMergeState(state);
    delta.dispose();
    tree.dispose([eff, opened, merged, viaLora, adapted.params, model.params]);
  }, 60_000);
});

test("LaMDA freezes A always and B's columns one by one (⌊t / (η·T)⌋ of them at update t)", () => {
  const c = typedConfig(LAMDA, { r: 3, freezeEta: 0.25 });
  const m = { name: "m", kind: "linear", shape: [2, 5], r: 3, alpha: 16, scaling: 1 };
  // A stand-in optimizer whose update is the gradient itself: what survives is the mask.
  const inner: GradientTransformation<null> = {
    init: () => null,
    update: (g, s, p) => {
      if (p) tree.dispose(p);
      return [g, s];
    },
  };
  const opt = LAMDA.trainer!(c, [m as LamdaModule], { steps: 8, accumulate: 1 }).wrap(inner);
  const ones = () => ({
    "m.lamda_A": np.ones([3, 5]),
    "m.lamda_S": np.ones([3, 3]),
    "m.lamda_B": np.ones([2, 3]),
  });
  let state = opt.init(ones());
  for (let t = 1; t <= 8; t++) {
    const [u, next] = opt.update(ones(), state, ones());
    state = next;
    const v = u as Record<string, np.Array>;
    const frozenCols = Math.min(3, frozenColumns(t, 0.25, 8)); // t = 2, 4, 6 → 1, 2, 3 columns
    expect(frozenCols).toBe(Math.min(3, Math.floor(t / 2)));
    expect(read(v["m.lamda_A"]).every((x) => x === 0)).toBe(true);
    expect(read(v["m.lamda_S"]).every((x) => x === 1)).toBe(true);
    const b = read(v["m.lamda_B"]);
    for (let j = 0; j < 3; j++)
      expect([b[j], b[3 + j]], `t ${t} column ${j}`).toEqual(j < frozenCols ? [0, 0] : [1, 1]);
    tree.dispose(v);
  }
  tree.dispose(state);
});

test("lamda: interrupted at step 2 and resumed = 4 steps straight, bit for bit (the freezing schedule's step is in the optimizer state), leaking nothing", async () => {
  // 4 steps, η 0.3: B's first column freezes at update 2, the second at 3, the third at 4.
  const straight = tempDir();
  await finetune({ config: config("lamda", 4, 0.02, 4), out: straight, quiet: true });
  const before = await liveBuffers();
  const cut = tempDir();
  const stop = new AbortController();
  const first = await finetune({
    config: config("lamda", 4, 0.02, 4),
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
    config: config("lamda", 4, 0.02, 4),
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
