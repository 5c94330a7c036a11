/**
 * VeRA, RandLoRA, MiSS (modes true, "mini", "bat") and old Bone folders against PEFT's math
 * (tools/fixtures/peft_types_vera_reference.py, written from PEFT's tuners in torch, float64, on
 * fixed tensors — the projections are the script's, not torch.Generator draws from
 * projection_prng_key): each folder loads in PEFT's layout; each adapted layer's output (PEFT's
 * forward, not its merge), ΔW through the registered reader, the merged weights and the adapted
 * model's logits match to 1e-5; unmerge restores the base; a full-rank conversion to LoRA gives the
 * merged model; saving a loaded folder writes PEFT's keys and config values back.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { loadSafetensors, readSafetensorsHeader } from "../../src/io/safetensors.js";
import { type LlamaParams, llamaForward } from "../../src/nn/llama.js";
import type { LlamaConfig } from "../../src/nn/llama-config.js";
import { loadModel } from "../../src/nn/pretrained.js";
import {
  convertAdapter,
  effectiveParams,
  loadAnyAdapter,
  merge,
  readAdapterDelta,
  saveAnyAdapter,
  shapesOf,
  unmerge,
} from "../../src/peft/index.js";
import { closeness, read, setup } from "../helpers/engine.js";

const DIR = join(import.meta.dirname, "..", "fixtures", "peft-types-vera");
const BASE = join(import.meta.dirname, "..", "fixtures", "peft", "base");
const expected = JSON.parse(readFileSync(join(DIR, "expected.json"), "utf8")) as {
  tokens: number[][];
  logits: Record<string, number[]>;
};
const CASES = ["vera", "randlora", "miss", "miss_mini", "miss_bat", "bone", "bone_bat"];

let base: LlamaParams;
let config: LlamaConfig;
let root: string;
beforeAll(async () => {
  await setup();
  const model = await loadModel(BASE);
  base = model.params;
  config = model.config as LlamaConfig;
  root = await mkdtemp(join(tmpdir(), "rankwise-vera-fx-"));
});
afterAll(async () => {
  tree.dispose(base);
  await rm(root, { recursive: true, force: true });
});

const tokens = () =>
  np.array(expected.tokens.flat(), { dtype: np.int32 }).reshape([expected.tokens.length, -1]);

/** |actual − expected| ≤ tol·|expected| + tol everywhere (borrows `actual`). */
function expectClose(actual: np.Array, want: ArrayLike<number>, what: string, tol = 1e-5) {
  const worst = closeness(read(actual), Array.from(want), tol, tol);
  expect({ what, ...worst, ok: worst.ratio <= 1 }).toMatchObject({ what, ok: true });
}

const wanted = async (name: string) =>
  (await loadSafetensors(join(DIR, name, "expected.safetensors"))).tensors;

describe.each(CASES)("PEFT %s folder", (name) => {
  test("layer outputs, merged weights and logits match PEFT's; unmerge restores the base", async () => {
    const adapter = await loadAnyAdapter(join(DIR, name), shapesOf(base));
    const want = await wanted(name);
    const eff = effectiveParams(tree.ref(base), tree.ref(adapter.params), adapter.plan);
    const modules = adapter.plan.modules.map((m) => m.name);
    expect(modules.sort()).toEqual(
      Object.keys(want)
        .filter((k) => k.startsWith("y."))
        .map((k) => k.slice(2))
        .sort(),
    );
    for (const m of modules) {
      const y = np.matmul(want[`x.${m}`].ref, eff[`${m}.weight`].ref.transpose());
      expectClose(y, read(want[`y.${m}`]), `layer output ${m}`);
      y.dispose();
    }
    const logits = llamaForward(eff, tokens(), config);
    expectClose(logits, expected.logits[name], "logits");
    expect(closeness(read(logits), expected.logits.base, 1e-3, 1e-3).ratio).toBeGreaterThan(1);
    logits.dispose();

    const { params, state } = merge(base, adapter.params, adapter.plan);
    const mergedKeys = Object.keys(want).filter((k) => k.startsWith("merged."));
    for (const k of mergedKeys) expectClose(params[k.slice(7)], read(want[k]), k);
    const back = unmerge(params, adapter.params, adapter.plan, state);
    for (const k of Object.keys(base)) expectClose(back[k], read(base[k]), `unmerged ${k}`, 1e-4);
    tree.dispose([back, want, adapter.params]);
  });

  test("the ΔW reader gives PEFT's ΔW; a full-rank LoRA conversion gives the merged model", async () => {
    const delta = await readAdapterDelta(join(DIR, name), shapesOf(base));
    const want = await wanted(name);
    // MiSS/Bone go through W' = f(W) in every mode ("bat" needs W); VeRA and RandLoRA are additive.
    expect(delta.needsBase).toBe(name.startsWith("miss") || name.startsWith("bone"));
    for (const m of delta.modules) {
      const d = delta.delta(m.name, base[`${m.name}.weight`]);
      expectClose(d, read(want[`delta.${m.name}`]), `ΔW ${m.name}`);
      d.dispose();
    }
    const lora = convertAdapter(delta, { rank: 64 }, base);
    const dir = join(root, `lora-${name}`);
    await saveAnyAdapter(dir, lora.adapter);
    tree.dispose(lora.adapter.params);
    const back = await loadAnyAdapter(dir, shapesOf(base));
    const { params, state } = merge(base, back.params, back.plan);
    for (const k of Object.keys(want).filter((x) => x.startsWith("merged.")))
      expectClose(params[k.slice(7)], read(want[k]), `converted ${k}`, 1e-4);
    tree.dispose([unmerge(params, back.params, back.plan, state), back.params, want]);
    delta.dispose();
  });

  test("saving a loaded folder writes PEFT's keys and config values back, tensors bit-exact", async () => {
    const adapter = await loadAnyAdapter(join(DIR, name), shapesOf(base));
    const dir = join(root, `rt-${name}`);
    await saveAnyAdapter(dir, adapter);
    tree.dispose(adapter.params);
    const theirs = JSON.parse(await readFile(join(DIR, name, "adapter_config.json"), "utf8"));
    const ours = JSON.parse(await readFile(join(dir, "adapter_config.json"), "utf8"));
    // PEFT's bookkeeping keys are not written; only the fields PEFT's class has (VeraConfig has
    // no exclude_modules). PEFT no longer loads Bone: it is written as MiSS, as PEFT's
    // convert-bone-to-miss.py does (peft_type and keys renamed, MiSS's own fields at defaults).
    const { auto_mapping: _a, peft_version: _v, ...rest } = theirs;
    const bone = name.startsWith("bone");
    const key = (k: string) => (bone ? k.replace(/\.bone_block$/, ".miss_block") : k);
    expect(ours).toEqual(bone ? { ...rest, peft_type: "MISS", mini_r: 1, miss_dropout: 0 } : rest);
    const a = await readSafetensorsHeader(join(DIR, name, "adapter_model.safetensors"));
    const b = await readSafetensorsHeader(join(dir, "adapter_model.safetensors"));
    expect(b.tensors.map((t) => [t.name, t.shape]).sort()).toEqual(
      a.tensors.map((t) => [key(t.name), t.shape]).sort(),
    );
    const x = (await loadSafetensors(join(DIR, name, "adapter_model.safetensors"))).tensors;
    const y = (await loadSafetensors(join(dir, "adapter_model.safetensors"))).tensors;
    for (const k of Object.keys(x)) expect(read(y[key(k)]), k).toEqual(read(x[k]));
    tree.dispose([x, y]);
  });
});
