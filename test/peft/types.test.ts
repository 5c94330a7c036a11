/**
 * The adapter-type registry (src/peft/types/): every registered type round-trips through PEFT
 * files bit for bit with PEFT's keys and config fields; its init leaves the model unchanged;
 * merge equals the adapted forward's weights and unmerge restores the base; effectiveParams leaks
 * nothing; a ΔW reader is registered; bad configs are one line.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { UsageError } from "../../src/engine/errors.js";
import * as tree from "../../src/engine/tree.js";
import { readSafetensorsHeader } from "../../src/io/safetensors.js";
import { initLlama, type LlamaParams } from "../../src/nn/llama.js";
import { llamaConfig } from "../../src/nn/llama-config.js";
import {
  adapterTypes,
  createTypedAdapter,
  deltaTypes,
  effectiveParams,
  loadAnyAdapter,
  merge,
  saveAnyAdapter,
  shapesOf,
  typedConfig,
  unmerge,
} from "../../src/peft/index.js";
import { anyConfigFromJson } from "../../src/peft/types/any.js";
import { setup } from "../helpers/engine.js";

const config = llamaConfig({
  vocab_size: 24,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
});
let root: string;
let base: LlamaParams;
beforeAll(async () => {
  await setup();
  root = await mkdtemp(join(tmpdir(), "rankwise-types-"));
  base = initLlama(config, 3);
});
afterAll(async () => {
  tree.dispose(base);
  await rm(root, { recursive: true, force: true });
});

const host = (a: np.Array) => Array.from(a.ref.dataSync() as Float32Array);
const maxDiff = (a: np.Array, b: np.Array) => {
  const x = host(a);
  const y = host(b);
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);
};

/** Nonzero, "trained" tensors: init, then a fixed perturbation of every tensor. */
function trained(type: string) {
  const t = adapterTypes().find((x) => x.peftType === type)!;
  const cfg = typedConfig(t, {
    targetModules: ["q_proj", "down_proj"],
    ...(type === "IA3" ? { feedforwardModules: ["down_proj"] } : { r: 2, alpha: 4 }),
    modulesToSave: ["lm_head"],
  });
  const made = createTypedAdapter(base, cfg, 5);
  const params: Record<string, np.Array> = {};
  for (const [k, v] of Object.entries(made.params)) {
    const n = v.size;
    const bump = np.sin(np.arange(n).astype(np.float32).mul(0.37)).reshape(v.shape).mul(0.05);
    params[k] = v.add(bump);
  }
  return { ...made, params };
}

describe.each(["IA3", "LOHA", "LOKR"])("%s", (type) => {
  test("init leaves the model unchanged; effectiveParams consumes its arguments", () => {
    const t = adapterTypes().find((x) => x.peftType === type)!;
    const made = createTypedAdapter(
      base,
      typedConfig(t, { targetModules: ["q_proj", "down_proj"] }),
      1,
    );
    const eff = effectiveParams(tree.share(base), made.params, made.plan);
    for (const m of made.plan.modules) {
      const k = `${m.name}.weight`;
      expect(maxDiff(eff[k], base[k])).toBe(0);
    }
    tree.dispose(eff);
  });

  test("PEFT file round trip is bit-exact, with PEFT's keys and config fields", async () => {
    const a = trained(type);
    const dir = join(root, `rt-${type}`);
    await saveAnyAdapter(dir, { config: a.config, params: a.params });
    const header = await readSafetensorsHeader(join(dir, "adapter_model.safetensors"));
    expect(header.metadata).toEqual({ format: "pt" });
    expect(header.tensors.map((x) => x.name).sort()).toEqual(
      Object.keys(a.params)
        .map((k) => `base_model.model.${k}`)
        .sort(),
    );
    const json = JSON.parse(await readFile(join(dir, "adapter_config.json"), "utf8"));
    expect(json.peft_type).toBe(type);
    expect(json.inference_mode).toBe(true);
    expect(Object.keys(json)).toEqual(Object.keys(json).sort());
    const loaded = await loadAnyAdapter(dir, shapesOf(base));
    expect(loaded.config).toEqual({ ...a.config, inferenceMode: true });
    for (const [k, v] of Object.entries(a.params)) expect(host(loaded.params[k])).toEqual(host(v));
    tree.dispose([loaded.params, a.params]);
  });

  test("merge equals the effective weights; unmerge restores the base", () => {
    const a = trained(type);
    const eff = effectiveParams(tree.share(base), tree.share(a.params), a.plan);
    const merged = merge(base, a.params, a.plan);
    for (const k of Object.keys(base)) expect(maxDiff(merged.params[k], eff[k])).toBeLessThan(1e-6);
    const back = unmerge(merged.params, a.params, a.plan, merged.state);
    for (const k of Object.keys(base)) expect(maxDiff(back[k], base[k])).toBeLessThan(1e-5);
    tree.dispose([eff, back, a.params]);
  });

  test("a ΔW reader is registered", () => {
    expect(deltaTypes()).toContain(type);
  });

  test("creating, merging, unmerging, applying, saving and loading leaks no buffers", async () => {
    const { liveBuffers } = await import("../helpers/engine.js");
    const dir = join(root, `leak-${type}`);
    const cycle = async () => {
      const a = trained(type);
      const { params, state } = merge(base, a.params, a.plan);
      tree.dispose(unmerge(params, a.params, a.plan, state));
      tree.dispose(effectiveParams(tree.ref(base), tree.ref(a.params), a.plan));
      await saveAnyAdapter(dir, { config: a.config, params: a.params });
      tree.dispose([a.params, (await loadAnyAdapter(dir, shapesOf(base))).params]);
    };
    await cycle();
    const before = await liveBuffers();
    await cycle();
    expect(await liveBuffers()).toBe(before);
  });
});

test("bad configs are one line naming the field and the accepted values", () => {
  expect(() => anyConfigFromJson({ peft_type: "LOHA", r: 0 })).toThrow(
    /r 0 is not accepted \(a positive integer\)/,
  );
  expect(() => anyConfigFromJson({ peft_type: "LOKR", init_weights: "x" })).toThrow(UsageError);
  expect(() =>
    anyConfigFromJson({
      peft_type: "IA3",
      target_modules: ["k_proj"],
      feedforward_modules: ["down_proj"],
    }),
  ).toThrow(/feedforward_modules .* must be a subset of target_modules/);
  expect(() => anyConfigFromJson({ peft_type: "NOPE" })).toThrow(
    /unsupported peft_type "NOPE" \(supported: LORA, IA3, LOHA, LOKR/,
  );
  const { ignored } = anyConfigFromJson({ peft_type: "LOHA", something_new: 1 });
  expect(ignored).toEqual(["something_new"]);
});
