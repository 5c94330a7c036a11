/**
 * IA³, LoHa and LoKr against PEFT's math (tools/fixtures/peft_types_reference.py, written from
 * PEFT's tuners in torch, float64): the folders it wrote in PEFT's layout load here; each adapted
 * layer's output, ΔW (through the registered ΔW reader), the merged weights and the adapted
 * model's logits match to 1e-5, the jit'ed adapter gradient PyTorch's autograd to 1e-4; LoKr's factorization table matches PEFT's rule; a full-rank
 * conversion to LoRA reproduces the merged model; `combine linear` of a LoHa and a LoKr adapter
 * is the sum of their PEFT ΔW; saving a loaded folder writes PEFT's keys and
 * config values back.
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
  combineAdapters,
  convertAdapter,
  disposeMergeState,
  effectiveParams,
  loadAnyAdapter,
  makeAdapterLossAndGrad,
  merge,
  readAdapterDelta,
  saveAnyAdapter,
  shapesOf,
} from "../../src/peft/index.js";
import { factorization } from "../../src/peft/types/lokr.js";
import { closeness, read, setup } from "../helpers/engine.js";
import {
  expectClose,
  FIXTURE_BASE,
  fixtureTokens,
  referenceTensors,
} from "../helpers/peft-fixture.js";

const DIR = join(import.meta.dirname, "..", "fixtures", "peft-types");
const expected = JSON.parse(readFileSync(join(DIR, "expected.json"), "utf8")) as {
  tokens: number[][];
  targets: number[][];
  logits: Record<string, number[]>;
  factorization: [number, number, number, number][];
};
const CASES = ["ia3", "ia3_regex", "loha", "lokr", "lokr_both"];

let base: LlamaParams;
let config: LlamaConfig;
let root: string;
beforeAll(async () => {
  await setup();
  const model = await loadModel(FIXTURE_BASE);
  base = model.params;
  config = model.config as LlamaConfig;
  root = await mkdtemp(join(tmpdir(), "rankwise-types-fx-"));
});
afterAll(async () => {
  tree.dispose(base);
  await rm(root, { recursive: true, force: true });
});

const wanted = (name: string) => referenceTensors(DIR, name);

test("LoKr's factorization(dim, factor) is PEFT's", () => {
  for (const [dim, factor, m, n] of expected.factorization)
    expect([dim, factor, ...factorization(dim, factor)]).toEqual([dim, factor, m, n]);
});

describe.each(CASES)("PEFT %s folder", (name) => {
  test("each adapted layer's output and the merged weights match PEFT's", async () => {
    const adapter = await loadAnyAdapter(join(DIR, name), shapesOf(base));
    const want = await wanted(name);
    const eff = effectiveParams(tree.ref(base), tree.ref(adapter.params), adapter.plan);
    const modules = adapter.plan.modules.map((m) => m.name);
    expect(modules.length).toBeGreaterThan(0);
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
    const { params, state } = merge(base, adapter.params, adapter.plan);
    const mergedKeys = Object.keys(want).filter((k) => k.startsWith("merged."));
    for (const k of mergedKeys) expectClose(params[k.slice(7)], read(want[k]), k);
    for (const k of Object.keys(base))
      if (!mergedKeys.includes(`merged.${k}`)) expect(params[k], k).toBe(base[k]);
    disposeMergeState(state);
    tree.dispose([params, eff, want, adapter.params]);
  });

  test("the adapted forward gives PEFT's logits", async () => {
    const adapter = await loadAnyAdapter(join(DIR, name), shapesOf(base));
    const logits = llamaForward(
      effectiveParams(tree.ref(base), adapter.params, adapter.plan),
      fixtureTokens(expected.tokens),
      config,
    );
    expectClose(logits, expected.logits[name], "logits");
    expect(closeness(read(logits), expected.logits.base, 1e-3, 1e-3).ratio).toBeGreaterThan(1);
    logits.dispose();
  });

  test("the jit'ed gradient with respect to the adapter matches PyTorch's", async () => {
    const adapter = await loadAnyAdapter(join(DIR, name), shapesOf(base));
    const want = await wanted(name);
    const targets = np
      .array(expected.targets.flat(), { dtype: np.int32 })
      .reshape([expected.targets.length, -1]);
    const lossAndGrad = makeAdapterLossAndGrad(adapter.plan, config);
    const [loss, grads] = lossAndGrad(
      adapter.params,
      tree.ref(base),
      fixtureTokens(expected.tokens),
      targets,
    );
    loss.dispose();
    expect(Object.keys(grads).sort()).toEqual(
      Object.keys(want)
        .filter((k) => k.startsWith("grad."))
        .map((k) => k.slice(5))
        .sort(),
    );
    for (const [key, g] of Object.entries(grads)) {
      const worst = closeness(read(g), read(want[`grad.${key}`]), 1e-4, 1e-6);
      expect({ key, ...worst, ok: worst.ratio <= 1 }).toMatchObject({ key, ok: true });
    }
    tree.dispose([grads, want]);
    lossAndGrad.dispose();
  });

  test("the ΔW reader gives PEFT's ΔW; a full-rank LoRA conversion gives the merged model", async () => {
    const isIa3 = name.startsWith("ia3");
    // LoHa and LoKr infer the module shapes from their folder; IA³'s ΔW needs W.
    const delta = await readAdapterDelta(join(DIR, name), isIa3 ? shapesOf(base) : undefined);
    const want = await wanted(name);
    expect(delta.needsBase).toBe(isIa3);
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
    disposeMergeState(state);
    tree.dispose([params, back.params, want]);
    delta.dispose();
  });

  test("saving a loaded folder writes PEFT's keys and config values back, tensors bit-exact", async () => {
    const adapter = await loadAnyAdapter(join(DIR, name), shapesOf(base));
    const dir = join(root, `rt-${name}`);
    await saveAnyAdapter(dir, adapter);
    tree.dispose(adapter.params);
    const theirs = JSON.parse(await readFile(join(DIR, name, "adapter_config.json"), "utf8"));
    const ours = JSON.parse(await readFile(join(dir, "adapter_config.json"), "utf8"));
    // PEFT's own bookkeeping keys are not written (as for LoRA); every other value is PEFT's.
    const { auto_mapping: _a, peft_version: _v, ...rest } = theirs;
    expect(ours).toEqual(rest);
    const a = await readSafetensorsHeader(join(DIR, name, "adapter_model.safetensors"));
    const b = await readSafetensorsHeader(join(dir, "adapter_model.safetensors"));
    expect(b.tensors.map((t) => [t.name, t.shape]).sort()).toEqual(
      a.tensors.map((t) => [t.name, t.shape]).sort(),
    );
    const x = (await loadSafetensors(join(DIR, name, "adapter_model.safetensors"))).tensors;
    const y = (await loadSafetensors(join(dir, "adapter_model.safetensors"))).tensors;
    for (const k of Object.keys(x)) expect(read(y[k]), k).toEqual(read(x[k]));
    tree.dispose([x, y]);
  });
});

test("combine linear of a LoHa and a LoKr adapter is the sum of their PEFT ΔW", async () => {
  const inputs = [
    await readAdapterDelta(join(DIR, "loha")),
    await readAdapterDelta(join(DIR, "lokr")),
  ];
  const [wl, wk] = [await wanted("loha"), await wanted("lokr")];
  const out = combineAdapters(inputs, { method: "linear", weights: [1, -0.5] });
  const dir = join(root, "combined");
  await saveAnyAdapter(dir, out.adapter);
  tree.dispose(out.adapter.params);
  const back = await readAdapterDelta(dir);
  const names = new Set([...inputs[0].modules, ...inputs[1].modules].map((m) => m.name));
  expect(back.modules.map((m) => m.name).sort()).toEqual([...names].sort());
  for (const name of names) {
    const a = wl[`delta.${name}`] ? read(wl[`delta.${name}`]) : undefined;
    const b = wk[`delta.${name}`] ? read(wk[`delta.${name}`]) : undefined;
    const want = Array.from(a ?? b!, (_, i) => (a ? a[i] : 0) - 0.5 * (b ? b[i] : 0));
    const d = back.delta(name);
    expectClose(d, want, `combined ΔW ${name}`, 1e-4);
    d.dispose();
  }
  for (const x of [...inputs, back]) x.dispose();
  tree.dispose([wl, wk]);
});
