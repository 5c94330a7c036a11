/**
 * `finetune --adapter lora-xs|lora-sb|svft|svfit|salt|loldu` through `finetune()` as the CLI runs it: a
 * few steps lower the validation loss below the base's; the folder has the type's keys, its
 * frozen factors (singular vectors, LDU factors) stay bit for bit as initialised under AdamW
 * with weight decay (no gradient and no update reach them); it opens over the base (applyAdapter) as the
 * trained effective weights; `adapter merge` equals them; the ΔW reader converts it to LoRA
 * without the base's help (the folder is self-contained).
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { numpy as np } from "@jax-js/jax";
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
import { read, setup } from "../helpers/engine.js";
import { writeTinyBase } from "../helpers/tiny-base.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "rankwise-svd-train-"));
let corpus: string;
let baseDir: string;

beforeAll(async () => {
  await setup();
  ({ corpus, baseDir } = await writeTinyBase(tempDir()));
});

const config = (adapter: string, lr: number) =>
  validateFinetuneConfig({
    model: baseDir,
    data: corpus,
    adapter,
    rank: 4,
    alpha: 4,
    target: "q_proj,v_proj,down_proj",
    optimizer: "adamw", // with a strong decay: the frozen factors must not move all the same
    optimizerOptions: { weightDecay: 0.5 },
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
    steps: 10,
  });

// [method, peft_type, learning rate, trained tensors, frozen tensors]; LoRA-XS trains r² numbers
// per module (16 here): like VeRA it needs a larger step to move in a few steps.
describe.each([
  ["lora-xs", "LORA_XS", 0.2, ["lora_latent_mapping.weight"], ["lora_A.weight", "lora_B.weight"]],
  // LoRA-SB's factors come from the base's gradient on the run's data (not recreated here).
  [
    "lora-sb",
    "LORA_SB",
    0.05,
    ["lora_latent_mapping.weight", "lora_A.weight", "lora_B.weight"],
    [],
  ],
  ["svft", "SVFT", 0.05, ["svft_s", "svft_gate"], ["svft_u", "svft_vt"]],
  ["svfit", "SVFIT", 0.05, ["svfit_delta"], ["svfit_u", "svfit_vt", "svfit_sigma"]],
  [
    "salt",
    "SALT",
    0.02,
    ["salt_scale", "salt_shift", "salt_x", "salt_y"],
    ["salt_u", "salt_s", "salt_vt"],
  ],
  ["loldu", "LOLDU", 0.05, ["loldu_z", "loldu_scale"], ["loldu_pl", "loldu_u", "loldu_d"]],
] as const)("%s", (adapter, peftType, lr, trained, frozen) => {
  test("a few steps lower the loss; frozen factors stay; the folder opens, merges and converts as trained", async () => {
    const out = tempDir();
    const cfg = config(adapter, lr);
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
    for (const t of [...trained, ...frozen])
      expect(keys.filter((k) => k.endsWith(`.${t}`))).toHaveLength(6);
    // The same base and seed give the same factors: training left them bit for bit.
    const fresh =
      frozen.length > 0
        ? createTypedAdapter(model.params, adapted.config, cfg.seed)
        : { params: {} as Record<string, np.Array> };
    for (const k of keys) {
      const same = frozen.some((t) => k.endsWith(`.${t}`));
      if (same) expect(read(adapted.params[k]), k).toEqual(read(fresh.params[k]));
    }
    tree.dispose(fresh.params);

    const eff = effectiveParams(tree.ref(model.params), tree.ref(adapted.params), adapted.plan);
    const opened = await applyAdapter(tree.ref(model.params), folder);
    const { params: merged, state } = merge(model.params, adapted.params, adapted.plan);
    const delta = await readAdapterDelta(folder); // self-contained: no base shapes
    const lora = convertAdapter(delta, { rank: 64 }, model.params);
    const loraPlan = planAdapter(lora.adapter.config, shapesOf(model.params));
    const viaLora = effectiveParams(tree.ref(model.params), lora.adapter.params, loraPlan);
    let moved = 0;
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
        moved = Math.max(moved, Math.abs(e[i] - w[i]));
      }
    }
    expect(moved).toBeGreaterThan(1e-4);
    disposeMergeState(state);
    delta.dispose();
    tree.dispose([eff, opened, merged, viaLora, adapted.params, model.params]);
  }, 60_000);
});
