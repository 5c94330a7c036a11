/**
 * AdaLoRA against PEFT's math (tools/fixtures/peft_types_adalora_reference.py, written from PEFT's
 * AdaLoRA tuner in torch): PEFT-layout folders (full, and pruned with a rank_pattern and sliced
 * tensors) load; ΔW, the layer output and the adapted logits match to 1e-5, the orthogonality loss
 * too; the budget schedule equals PEFT's formula at hand-computed steps; the mask keeps exactly the
 * budget's count of the highest scores; the allocator, fed the reference's parameters and gradients
 * for 50 steps (tinit, the cubic phase with deltaT 2, the final mask, the fixed pattern after),
 * reproduces its budgets, rank patterns and masked Λ; a pruned save → load keeps the masked
 * adapter's ΔW; `adapter convert`'s ΔW reader opens a pruned folder without the base; bad settings
 * are one line; finetune's loss-and-gradient carries the orthogonality loss, the adapted loss not.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { loadSafetensors } from "../../src/io/safetensors.js";
import { type LlamaParams, llamaForward } from "../../src/nn/llama.js";
import type { LlamaConfig } from "../../src/nn/llama-config.js";
import { loadModel } from "../../src/nn/pretrained.js";
import {
  adaptedLoss,
  effectiveParams,
  loadAnyAdapter,
  makeAdapterLossAndGrad,
  readAdapterDelta,
  saveAnyAdapter,
  shapesOf,
} from "../../src/peft/index.js";
import {
  ADALORA,
  type AdaloraConfig,
  type AdaloraModule,
  prunedAdapter,
} from "../../src/peft/types/adalora.js";
import {
  type AllocatorState,
  adaloraTrainer,
  budgetSchedule,
  maskToBudget,
} from "../../src/peft/types/adalora-allocator.js";
import { typedDelta } from "../../src/peft/types/apply.js";
import { typedConfig } from "../../src/peft/types/config.js";
import { closeness, read, setup } from "../helpers/engine.js";

const DIR = join(import.meta.dirname, "..", "fixtures", "peft-types-adalora");
const BASE = join(import.meta.dirname, "..", "fixtures", "peft", "base");
interface Step {
  step: number;
  budget: number;
  masked: boolean;
  pattern: Record<string, boolean[]> | null;
  E: Record<string, number[]>;
  params: Record<string, number[]>;
  grads: Record<string, number[]>;
}
const expected = JSON.parse(readFileSync(join(DIR, "expected.json"), "utf8")) as {
  tokens: number[][];
  logits: Record<string, number[]>;
  orth_full: number;
  allocator: {
    config: Record<string, number>;
    modules: Record<string, [number, number, number]>;
    steps: Step[];
  };
};

let base: LlamaParams;
let config: LlamaConfig;
let root: string;
beforeAll(async () => {
  await setup();
  const model = await loadModel(BASE);
  base = model.params;
  config = model.config as LlamaConfig;
  root = await mkdtemp(join(tmpdir(), "rankwise-adalora-"));
});
afterAll(async () => {
  tree.dispose(base);
  await rm(root, { recursive: true, force: true });
});

const near = (actual: np.Array | ArrayLike<number>, want: ArrayLike<number>, tol = 1e-5) => {
  const a =
    actual instanceof Float64Array || Array.isArray(actual) ? actual : read(actual as np.Array);
  expect(closeness(a as ArrayLike<number>, want, tol, tol).ratio).toBeLessThanOrEqual(1);
};

describe.each(["full", "pruned"])("PEFT folder %s", (name) => {
  test("ΔW, layer output and logits match PEFT's", async () => {
    const adapter = await loadAnyAdapter(join(DIR, name), shapesOf(base));
    const want = (await loadSafetensors(join(DIR, name, "expected.safetensors"))).tensors;
    if (name === "pruned")
      expect(adapter.params["model.layers.0.self_attn.q_proj.lora_A"].shape[0]).toBe(2);
    if (!("type" in adapter.plan)) throw new Error("not a typed plan");
    for (const m of adapter.plan.modules) {
      const d = typedDelta(adapter.plan, adapter.params, m);
      near(d, read(want[`delta.${m.name}`]));
      const x = want[`x.${m.name}`];
      const y = np.matmul(x.ref, base[`${m.name}.weight`].ref.add(d).transpose());
      near(y, read(want[`y.${m.name}`]));
      y.dispose();
    }
    const eff = effectiveParams(tree.ref(base), adapter.params, adapter.plan);
    const logits = llamaForward(eff, np.array(expected.tokens, { dtype: np.int32 }), config);
    near(logits, expected.logits[name]);
    logits.dispose();
    tree.dispose(want);
  });
});

test("orthogonality loss: orth_reg_weight · mean ‖QQᵀ − I‖_F, ‖PᵀP − I‖_F as PEFT's forward", async () => {
  const adapter = await loadAnyAdapter(join(DIR, "full"), shapesOf(base));
  if (!("type" in adapter.plan)) throw new Error("not a typed plan");
  const reg = ADALORA.regularizer!(
    adapter.config as AdaloraConfig,
    adapter.plan.modules as AdaloraModule[],
    (k) => adapter.params[k].ref,
  );
  near(reg, [expected.orth_full]);
  tree.dispose(adapter.params);
});

test("budget schedule = PEFT's cubic formula (hand-computed steps)", () => {
  const c = { tinit: 2, tfinal: 3, totalStep: 15, deltaT: 5 };
  // init 24, target 8, span T − tfinal − tinit = 10: budget = int(16·(1 − (t − 2)/10)³ + 8)
  expect(budgetSchedule(2, c, 24, 8)).toEqual({ budget: 24, mask: false });
  expect(budgetSchedule(3, c, 24, 8)).toEqual({ budget: 19, mask: false }); // 16·0.729 + 8 = 19.66
  expect(budgetSchedule(5, c, 24, 8)).toEqual({ budget: 13, mask: true }); // 16·0.343 + 8 = 13.49
  expect(budgetSchedule(7, c, 24, 8)).toEqual({ budget: 10, mask: false }); // 16·0.125 + 8 = 10
  expect(budgetSchedule(12, c, 24, 8)).toEqual({ budget: 8, mask: false }); // the end: target
  expect(budgetSchedule(13, c, 24, 8)).toEqual({ budget: 8, mask: true }); // final phase
});

test("the mask keeps exactly the budget's count of the highest scores", () => {
  const scores = { a: [0.5, 0.1, 0.9, 0.3], b: [0.7, 0.2, 0.05, 0.6, 0.8] };
  for (const budget of [9, 7, 4, 1]) {
    const mask = maskToBudget(scores, budget);
    const kept = Object.entries(mask).flatMap(([k, m]) =>
      m.flatMap((b, i) => (b ? [scores[k as "a" | "b"][i]] : [])),
    );
    const sorted = [...scores.a, ...scores.b].sort((x, y) => y - x);
    expect(kept.sort((x, y) => y - x)).toEqual(sorted.slice(0, budget));
  }
});

test("the allocator reproduces PEFT's rank patterns and masked Λ over 50 steps", () => {
  const a = expected.allocator;
  const c = typedConfig(ADALORA, {
    initR: a.config.init_r,
    targetR: a.config.target_r,
    tinit: a.config.tinit,
    tfinal: a.config.tfinal,
    totalStep: a.config.total_step,
    deltaT: a.config.deltaT,
  } as Partial<AdaloraConfig>) as AdaloraConfig;
  const modules = Object.entries(a.modules).map(([name, [r, inp, out]]) =>
    ADALORA.module(c, { name, kind: "linear", shape: [out, inp], r, alpha: 0 }),
  );
  // An inner optimizer that moves nothing: the allocator sees the reference's parameters as is.
  const still = {
    init: (p: tree.Params) => {
      tree.dispose(p);
      return {};
    },
    update: (u: tree.Params, s: object, p?: tree.Params) => {
      tree.dispose(p ?? {});
      return [tree.map((x: np.Array) => np.zerosLike(x), u), s] as [tree.Params, object];
    },
  };
  const opt = adaloraTrainer(c, modules, { steps: 999, accumulate: 1 }).wrap(still);
  const arrays = (t: Record<string, number[]>) =>
    Object.fromEntries(
      Object.entries(t).map(([k, v]) => {
        const [n, kind] = k.split(".");
        const [r, inp, out] = a.modules[n];
        const shape = kind === "lora_A" ? [r, inp] : kind === "lora_B" ? [out, r] : [r, 1];
        return [k, np.array(v, { dtype: np.float32 }).reshape(shape)];
      }),
    );
  let state = opt.init(arrays(a.steps[0].params));
  const sizes = { init: 4 * modules.length, target: 2 * modules.length };
  for (const s of a.steps) {
    const sched = { ...a.config, totalStep: a.config.total_step } as unknown as Parameters<
      typeof budgetSchedule
    >[1];
    expect(budgetSchedule(s.step, sched, sizes.init, sizes.target).budget, `step ${s.step}`).toBe(
      s.budget,
    );
    const params = arrays(s.params);
    const [u, next] = opt.update(arrays(s.grads), state, tree.share(params));
    state = next;
    const alloc = (state as { adapter: AllocatorState }).adapter;
    for (const n of Object.keys(a.modules)) {
      const e = params[`${n}.lora_E`].ref.add((u as Record<string, np.Array>)[`${n}.lora_E`].ref);
      expect(Array.from(read(e)), `E of ${n} at step ${s.step}`).toEqual(s.E[n].map(Math.fround));
      e.dispose();
      if (s.pattern)
        expect(
          Array.from(read(alloc.mask[`${n}.lora_E`]), (v) => v > 0),
          `step ${s.step}`,
        ).toEqual(s.pattern[`${n}.lora_E`]);
    }
    tree.dispose([u, params]);
  }
  tree.dispose(state);
});

test("save with pruned ranks → load: ΔW equals the masked adapter's; PEFT's keys and rank_pattern", async () => {
  const full = await loadAnyAdapter(join(DIR, "full"), shapesOf(base));
  if (!("type" in full.plan)) throw new Error("not a typed plan");
  const mods = full.plan.modules.map((m) => m.name);
  const mask = Object.fromEntries(
    // Module 3 loses every triplet: PEFT saves [0, in] / [out, 0] tensors for it.
    mods.map((n, i) => [
      `${n}.lora_E`,
      i === 3 ? [false, false, false, false] : [i % 2 === 0, true, false, i === 1],
    ]),
  );
  const pruned = prunedAdapter(full.config as AdaloraConfig, full.params, mask);
  const dir = join(root, "pruned");
  await saveAnyAdapter(dir, pruned);
  const json = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8"));
  expect(json.rank_pattern).toEqual(mask);
  expect(json.deltaT).toBe(1);
  const back = await loadAnyAdapter(dir, shapesOf(base));
  if (!("type" in back.plan)) throw new Error("not a typed plan");
  for (const [i, m] of back.plan.modules.entries()) {
    expect(back.params[`${m.name}.lora_A`].shape[0]).toBe(
      mask[`${m.name}.lora_E`].filter(Boolean).length,
    );
    // The masked adapter: full tensors with Λ zeroed where the mask drops a triplet.
    const keep = np
      .array(mask[`${m.name}.lora_E`].map(Number), { dtype: np.float32 })
      .reshape([4, 1]);
    const masked = {
      ...full.params,
      [`${m.name}.lora_E`]: full.params[`${m.name}.lora_E`].ref.mul(keep),
    };
    const want = typedDelta(full.plan, masked, full.plan.modules[i]);
    masked[`${m.name}.lora_E`].dispose();
    near(typedDelta(back.plan, back.params, m), read(want), 1e-6);
    want.dispose();
  }
  tree.dispose([full.params, pruned.params, back.params]);
});

test("adapter convert's reader takes a pruned folder without the base (shapes from its tensors)", async () => {
  const delta = await readAdapterDelta(join(DIR, "pruned"));
  const want = (await loadSafetensors(join(DIR, "pruned", "expected.safetensors"))).tensors;
  expect(delta.modules.length).toBe(4);
  for (const m of delta.modules) {
    const d = delta.delta(m.name);
    near(d, read(want[`delta.${m.name}`]));
    d.dispose();
  }
  delta.dispose();
  tree.dispose(want);
});

test("bad settings are one line naming the accepted values", () => {
  const c = typedConfig(ADALORA, {} as Partial<AdaloraConfig>) as AdaloraConfig;
  const m = [ADALORA.module(c, { name: "q", kind: "linear", shape: [4, 4], r: 0, alpha: 0 })];
  expect(() => adaloraTrainer(c, m, { steps: 10, accumulate: 2 })).toThrow(
    "--adapter adalora takes --accumulate 1 (its rank allocator needs each step's whole gradient)",
  );
  expect(() => adaloraTrainer({ ...c, tfinal: 10 }, m, { steps: 10, accumulate: 1 })).toThrow(
    "AdaLoRA needs total_step − tfinal > tinit; got total_step 10, tfinal 10, tinit 0",
  );
  expect(() => typedConfig(ADALORA, { targetR: 16 } as Partial<AdaloraConfig>)).toThrow(
    "adapter config: target_r 16 is above init_r 12 (the allocator only prunes)",
  );
  expect(() => typedConfig(ADALORA, { beta1: 1 } as Partial<AdaloraConfig>)).toThrow(
    "adapter config: beta1 1 is not accepted (a number in (0, 1))",
  );
});

test("finetune's loss-and-gradient adds the orthogonality loss; validation's adapted loss does not", async () => {
  const adapter = await loadAnyAdapter(join(DIR, "full"), shapesOf(base));
  const x = np.array(expected.tokens, { dtype: np.int32 });
  const fn = makeAdapterLossAndGrad(adapter.plan, config);
  const [withReg, grads] = fn(tree.share(adapter.params), tree.share(base), x.ref, x.ref);
  const plain = adaptedLoss(
    tree.share(adapter.params),
    tree.share(base),
    x.ref,
    x,
    adapter.plan,
    config,
  );
  const diff = read(withReg)[0] - read(plain)[0];
  expect(Math.abs(diff - expected.orth_full)).toBeLessThan(1e-5);
  tree.dispose([withReg, plain, grads, adapter.params]);
  fn.dispose();
});
