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
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { loadSafetensors, readSafetensorsHeader } from "../../src/io/safetensors.js";
import type { LlamaParams } from "../../src/nn/llama.js";
import type { LlamaConfig } from "../../src/nn/llama-config.js";
import { loadModel } from "../../src/nn/pretrained.js";
import {
  convertAdapter,
  loadAnyAdapter,
  merge,
  readAdapterDelta,
  saveAnyAdapter,
  shapesOf,
  unmerge,
} from "../../src/peft/index.js";
import { read, setup } from "../helpers/engine.js";
import {
  expectClose,
  expectFolderMatchesReference,
  FIXTURE_BASE,
  referenceTensors,
} from "../helpers/peft-fixture.js";

const DIR = join(import.meta.dirname, "..", "fixtures", "peft-types-vera");
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
  const model = await loadModel(FIXTURE_BASE);
  base = model.params;
  config = model.config as LlamaConfig;
  root = await mkdtemp(join(tmpdir(), "rankwise-vera-fx-"));
});
afterAll(async () => {
  tree.dispose(base);
  await rm(root, { recursive: true, force: true });
});

const wanted = (name: string) => referenceTensors(DIR, name);

describe.each(CASES)("PEFT %s folder", (name) => {
  test("layer outputs, merged weights and logits match PEFT's; unmerge restores the base", async () => {
    await expectFolderMatchesReference({
      dir: DIR,
      name,
      base,
      config,
      tokens: expected.tokens,
      logits: expected.logits,
    });
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
