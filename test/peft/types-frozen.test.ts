/**
 * The seed adapter types' `frozen` declarations (issue 11 follow-up): the trainable count that
 * finetune and `adapter inspect` report (trainedSize, through type.frozen) equals the number of
 * entries a training run actually moves. Measured, not restated: three AdamW steps (no weight
 * decay, so only gradients move entries) through the type's own trainer hook, on a loss
 * Σ ⟨W'_m, R_m⟩ with random R_m, whose gradient reaches every trained entry (a zero-initialised
 * factor gets one from step 2 on); the entries that differ from the start are counted. LaMDA's B
 * counts as trained: the run is told it is 1000 steps long, so none of its columns freeze yet.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type numpy as np, random, valueAndGrad } from "@jax-js/jax";
import { beforeAll, expect, test, vi } from "vitest";
import { main } from "../../src/cli/main.js";
import * as tree from "../../src/engine/tree.js";
import { applyUpdates } from "../../src/optim/core.js";
import { adamw } from "../../src/optim/optimizers/adam.js";
import { configToPeftJson, loraConfig } from "../../src/peft/config.js";
import { splitKey } from "../../src/peft/lora.js";
import {
  anyConfigFromJson,
  createTypedAdapter,
  saveAnyAdapter,
  typedConfigFromSettings,
} from "../../src/peft/types/any.js";
import { initTyped, planTyped, trainedSize, typedEffective } from "../../src/peft/types/apply.js";
import { typedConfig, typedConfigToJson } from "../../src/peft/types/config.js";
import { adapterType, typeOfMethod } from "../../src/peft/types/registry.js";
import "../../src/peft/types/builtin.js";
import { read, setup } from "../helpers/engine.js";

beforeAll(setup);

const SEEDS = [
  "lora-xs",
  "lora-sb",
  "svft",
  "svfit",
  "salt",
  "loldu",
  "lamda",
  "dsee",
  "lotr",
  "flora",
  "compacter",
];

const Q = "model.layers.0.self_attn.q_proj.weight";
const V = "model.layers.0.self_attn.v_proj.weight";

test.each(SEEDS)(
  "%s: trainable count = entries moved by 3 AdamW steps",
  (method) => {
    const type = typeOfMethod(method);
    if (type === undefined) throw new Error(`${method} is not registered`);
    const [kq, kv, rq, rv] = splitKey(random.key(11), 4);
    const base: Record<string, np.Array> = {
      [Q]: random.normal(kq, [16, 16]),
      [V]: random.normal(kv, [8, 16]),
    };
    const probe: Record<string, np.Array> = {
      [Q]: random.normal(rq, [16, 16]),
      [V]: random.normal(rv, [8, 16]),
    };
    const config = typedConfigFromSettings(method, {
      rank: 4,
      alpha: 8,
      target: ["q_proj", "v_proj"],
      baseModel: null,
    });
    const plan = planTyped(type, config, { [Q]: [16, 16], [V]: [8, 16] });
    // The loss's gradient at W is the probe itself (for LoRA-SB's gradient initialisation).
    let params = initTyped(plan, base, 5, probe);
    const expected = trainedSize(type, params);
    const start = Object.fromEntries(Object.entries(params).map(([k, a]) => [k, read(a.ref)]));

    const loss = (adapter: Record<string, np.Array>) => {
      const w = typedEffective(tree.ref(base), adapter, plan);
      return w[Q].mul(probe[Q].ref).sum().add(w[V].mul(probe[V].ref).sum());
    };
    const inner = adamw({ learningRate: 0.01, weightDecay: 0 });
    const opt = type.trainer
      ? type.trainer(config, plan.modules, { steps: 1000, accumulate: 1 }).wrap(inner)
      : inner;
    let state = opt.init(tree.ref(params));
    for (let s = 0; s < 3; s++) {
      const [value, grads] = valueAndGrad(loss)(tree.ref(params));
      value.dispose();
      const [updates, next] = opt.update(grads, state, tree.ref(params));
      state = next;
      params = applyUpdates(params, updates);
    }
    let moved = 0;
    for (const [k, a] of Object.entries(params)) {
      const now = read(a.ref);
      for (let i = 0; i < now.length; i++) if (now[i] !== start[k][i]) moved++;
    }
    tree.dispose(params);
    tree.dispose(state);
    tree.dispose(base);
    tree.dispose(probe);
    expect(moved).toBe(expected);
  },
  30_000,
);

/** `rankwise adapter inspect --json` in-process: its parsed stdout. */
async function inspectJson(dir: string) {
  let stdout = "";
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: unknown) => {
    stdout += String(chunk);
    return true;
  });
  try {
    expect(await main(["node", "rankwise", "adapter", "inspect", dir, "--json"])).toBe(0);
  } finally {
    spy.mockRestore();
  }
  return JSON.parse(stdout);
}

// Inspect groups tensors by the type's own names: LoRA-XS's <module>.lora_latent_mapping.weight
// is no saved module, LoTR's shared base_model.lotr_* factors are no modules; a saved module
// (modules_to_save, a real <module>.weight) still is one.
test.each(["lora-xs", "lotr"])(
  "%s folder: adapter inspect lists exactly the targeted modules",
  async (method) => {
    const names = [0, 1].flatMap((l) =>
      ["q_proj", "v_proj"].map((p) => `model.layers.${l}.self_attn.${p}`),
    );
    const keys = splitKey(random.key(2), names.length + 1);
    const base: Record<string, np.Array> = {};
    names.forEach((n, i) => {
      base[`${n}.weight`] = random.normal(keys[i], n.endsWith("q_proj") ? [16, 16] : [8, 16]);
    });
    base["lm_head.weight"] = random.normal(keys[names.length], [12, 16]);
    const config = {
      ...typedConfigFromSettings(method, {
        rank: 4,
        alpha: 8,
        target: ["q_proj", "v_proj"],
        baseModel: null,
      }),
      modulesToSave: ["lm_head"],
    };
    const adapter = createTypedAdapter(base, config, 1);
    const dir = mkdtempSync(join(tmpdir(), "rankwise-types-frozen-"));
    await saveAnyAdapter(dir, adapter);
    const expected = trainedSize(adapter.plan.type, adapter.params);
    tree.dispose(adapter.params);
    tree.dispose(base);
    const s = await inspectJson(dir);
    expect(s.modules.map((m: { name: string }) => m.name)).toEqual([...names, "lm_head"].sort());
    for (const m of s.modules) expect(m.rank).toBe(m.name === "lm_head" ? 0 : 4);
    expect(s.trainableParameters).toBe(expected);
    if (method === "lora-xs") {
      // A and B are stored, frozen; the trained r×r mapping belongs to its module.
      expect(s.frozen).toHaveLength(2 * names.length);
      for (const m of s.modules.filter((m: { name: string }) => m.name !== "lm_head"))
        expect(m.shapes).toEqual({ lora_latent_mapping: [4, 4] });
      expect(s.shared).toEqual([]);
    } else {
      // One left and one right factor per module kind, shared by both layers.
      expect(s.shared.map((t: { name: string }) => t.name)).toHaveLength(4);
      for (const t of s.shared) expect(t.name).toMatch(/^base_model\.lotr_/);
      expect(s.frozen).toEqual([]);
    }
  },
  30_000,
);

// AdaLoraConfig extends LoraConfig (huggingface/peft src/peft/tuners/adalora/config.py): its file
// has LoRA's fields (as Rankwise writes a LoraConfig) plus these, and PEFT refuses use_dora and
// loftq_config; Rankwise refuses every inherited option it does not implement for AdaLoRA.
const ADALORA_OWN =
  "target_r init_r tinit tfinal deltaT beta1 beta2 orth_reg_weight total_step rank_pattern".split(
    " ",
  );

test("AdaLoRA writes LoraConfig's fields and its own", () => {
  const ada = adapterType("ADALORA", "test");
  const json = typedConfigToJson(ada, typedConfig(ada));
  const lora = Object.keys(configToPeftJson(loraConfig({})));
  const expected = [...new Set([...lora, ...ADALORA_OWN, "loftq_config"])].sort();
  expect(Object.keys(json).sort()).toEqual(expected);
  expect(json.use_dora).toBe(false);
  expect(json.use_rslora).toBe(false);
  expect(json.loftq_config).toEqual({});
  // A file as PEFT writes it (nulls for the defaults) reads back with nothing ignored.
  const { config, ignored } = anyConfigFromJson({
    ...json,
    loftq_config: null,
    layer_replication: null,
    use_qalora: false,
    alpha_pattern: { q_proj: 4 },
  });
  expect(ignored).toEqual([]);
  expect(typedConfigToJson(ada, config as never).alpha_pattern).toEqual({ q_proj: 4 });
});

test.each([
  ["use_dora", true],
  ["use_rslora", true],
  ["loftq_config", { loftq_bits: 4, loftq_iter: 1 }],
  ["lora_bias", true],
  ["eva_config", { rho: 2 }],
  ["layer_replication", [[0, 1]]],
  ["use_qalora", true],
])("AdaLoRA refuses an inherited %s set to %j, in one line", (key, value) => {
  const ada = adapterType("ADALORA", "test");
  const json = { ...typedConfigToJson(ada, typedConfig(ada)), [key]: value };
  expect(() => anyConfigFromJson(json, "a/adapter_config.json")).toThrow(
    new RegExp(`^a/adapter_config\\.json: ${key} .* is not accepted \\(only [^\\n]+\\)$`),
  );
});

test("the freezing trainer's optimizer keeps state for trained keys only, and frozen keys never move", async () => {
  const { numpy: np } = await import("@jax-js/jax");
  const { freezingTrainer } = await import("../../src/peft/types/freeze-trainer.js");
  const opt = freezingTrainer(["frozen"]).wrap(adamw({ learningRate: 0.1, weightDecay: 0.5 }));
  let params: Record<string, np.Array> = {
    frozen: np.array([1, 2, 3]),
    trained: np.array([4, 5]),
  };
  let state = opt.init(tree.ref(params));
  // AdamW's two moments: state for `trained` only (2 + 2 entries), none for `frozen`.
  const moments = tree.leaves(state.inner).filter((a) => (a as np.Array).size === 2);
  expect(moments.length).toBe(2);
  expect(tree.leaves(state.inner).some((a) => (a as np.Array).size === 3)).toBe(false);
  for (let i = 0; i < 2; i++) {
    const grads = { frozen: np.array([1, 1, 1]), trained: np.array([1, -1]) };
    const [u, s] = opt.update(grads, state, tree.ref(params));
    params = applyUpdates(params, u);
    state = s;
  }
  expect([...(await read(params.frozen))]).toEqual([1, 2, 3]);
  const moved = await read(params.trained);
  expect(moved[0]).toBeLessThan(4);
  expect(moved[1]).toBeGreaterThan(4.5);
  tree.dispose(state);
});
