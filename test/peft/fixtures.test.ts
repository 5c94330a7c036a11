/**
 * Rankwise against PEFT's math (tools/fixtures/peft_lora.py, written from PEFT's code in torch):
 * the adapter folders it wrote load here; merged weights and the adapted model's logits match its
 * float64 results to 1e-5; PiSSA/OLoRA initialisations reproduce its residuals and factors; the
 * PiSSA/OLoRA → LoRA conversion gives its tensors and the same model.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { loadSafetensors } from "../../src/io/safetensors.js";
import { type LlamaParams, llamaForward } from "../../src/nn/llama.js";
import type { LlamaConfig } from "../../src/nn/llama-config.js";
import { loadModel } from "../../src/nn/pretrained.js";
import {
  applyResidual,
  convertToLora,
  createAdapter,
  disposeMergeState,
  effectiveParams,
  loadAdapter,
  makeAdapterLossAndGrad,
  merge,
  shapesOf,
} from "../../src/peft/index.js";
import { closeness, read, setup } from "../helpers/engine.js";

const DIR = join(import.meta.dirname, "..", "fixtures", "peft");
const expected = JSON.parse(readFileSync(join(DIR, "expected.json"), "utf8")) as {
  tokens: number[][];
  targets: number[][];
  logits: Record<string, number[]>;
};

let base: LlamaParams;
let config: LlamaConfig;
beforeAll(async () => {
  await setup();
  const model = await loadModel(join(DIR, "base"));
  base = model.params;
  config = model.config as LlamaConfig;
});

const tokens = () =>
  np.array(expected.tokens.flat(), { dtype: np.int32 }).reshape([expected.tokens.length, -1]);

/** |actual − expected| ≤ 1e-5·|expected| + 1e-5 everywhere (borrows `actual`). */
function expectClose(actual: np.Array, want: ArrayLike<number>, what: string, tol = 1e-5) {
  const worst = closeness(read(actual), Array.from(want), tol, tol);
  expect({ what, ...worst, ok: worst.ratio <= 1 }).toMatchObject({ what, ok: true });
}

async function expectedTensors(name: string): Promise<Record<string, np.Array>> {
  return (await loadSafetensors(join(DIR, name, "expected.safetensors"))).tensors;
}

describe.each(["lora", "rslora", "dora", "patterns", "regex", "layers"])(
  "PEFT adapter %s",
  (name) => {
    test("merge matches PEFT's merged weights and leaves every other tensor as it was", async () => {
      const adapter = await loadAdapter(join(DIR, name), shapesOf(base));
      const want = await expectedTensors(name);
      const { params, state } = merge(base, adapter.params, adapter.plan);
      const mergedKeys = Object.keys(want).filter((k) => !k.startsWith("grad."));
      for (const key of mergedKeys) expectClose(params[key], read(want[key]), key);
      for (const key of Object.keys(base)) {
        if (!mergedKeys.includes(key)) expect(params[key], key).toBe(base[key]);
      }
      tree.dispose(want);
      tree.dispose(params);
      disposeMergeState(state);
      tree.dispose(adapter.params);
    });

    test("the adapted forward gives PEFT's logits", async () => {
      const adapter = await loadAdapter(join(DIR, name), shapesOf(base));
      const logits = llamaForward(
        effectiveParams(tree.ref(base), adapter.params, adapter.plan),
        tokens(),
        config,
      );
      expectClose(logits, expected.logits[name], "logits");
      // and differs from the base model's (the adapter does something)
      expect(closeness(read(logits), expected.logits.base, 1e-3, 1e-3).ratio).toBeGreaterThan(1);
      logits.dispose();
    });
  },
);

describe.each(["lora", "rslora", "dora", "patterns"])("PEFT adapter %s, training", (name) => {
  test("the jit'ed adapter gradient matches PyTorch's (DoRA's norm detached)", async () => {
    const adapter = await loadAdapter(join(DIR, name), shapesOf(base));
    const want = await expectedTensors(name);
    const targets = np
      .array(expected.targets.flat(), { dtype: np.int32 })
      .reshape([expected.targets.length, -1]);
    const lossAndGrad = makeAdapterLossAndGrad(adapter.plan, config);
    const [loss, grads] = lossAndGrad(adapter.params, tree.ref(base), tokens(), targets);
    loss.dispose();
    expect(Object.keys(grads).sort()).toEqual(
      Object.keys(want)
        .filter((k) => k.startsWith("grad."))
        .map((k) => k.slice("grad.".length))
        .sort(),
    );
    for (const [key, g] of Object.entries(grads)) {
      const worst = closeness(read(g), read(want[`grad.${key}`]), 1e-4, 1e-6);
      expect({ key, ...worst, ok: worst.ratio <= 1 }).toMatchObject({ key, ok: true });
    }
    tree.dispose([grads, want]);
    lossAndGrad.dispose();
  });
});

describe.each(["pissa", "olora"])("%s", (method) => {
  test("initialisation reproduces PEFT's residual base and factors", async () => {
    const init = await loadAdapter(join(DIR, `${method}_init`), shapesOf(base));
    const want = await expectedTensors(`${method}_init`);
    const created = createAdapter(base, init.config);
    expect(Object.keys(created.params).sort()).toEqual(Object.keys(init.params).sort());
    for (const [key, a] of Object.entries(init.params))
      expectClose(created.params[key], read(a), key);
    for (const key of Object.keys(created.residual)) {
      expectClose(created.residual[key], read(want[`residual.${key}`]), `residual ${key}`);
    }
    expect(Object.keys(created.residual).length).toBe(init.plan.modules.length);
    tree.dispose([want, init.params, created.params, created.residual, created.initial!]);
  });

  test("residual + trained adapter gives PEFT's logits; the rank-2r conversion gives its tensors and model", async () => {
    const init = await loadAdapter(join(DIR, `${method}_init`), shapesOf(base));
    const trained = await loadAdapter(join(DIR, `${method}_trained`), shapesOf(base));
    const want = await expectedTensors(`${method}_init`);
    const created = createAdapter(base, init.config);
    const residualBase = applyResidual(tree.ref(base), created.residual);
    const logits = llamaForward(
      effectiveParams(tree.ref(residualBase), tree.ref(trained.params), trained.plan),
      tokens(),
      config,
    );
    expectClose(logits, expected.logits[`${method}_trained`], "logits");
    logits.dispose();

    // Convert with the fixture's initial factors: exactly PEFT's tensors.
    const converted = convertToLora(trained, init.params, trained.plan);
    const reference = await loadAdapter(join(DIR, `${method}_converted`), shapesOf(base));
    expect(converted.config.r).toBe(reference.config.r);
    expect(converted.config.loraAlpha).toBe(reference.config.loraAlpha);
    expect(converted.config.initLoraWeights).toBe(true);
    for (const [key, a] of Object.entries(reference.params))
      expectClose(converted.params[key], read(a), key);
    const plain = await loadAdapter(join(DIR, `${method}_converted`), shapesOf(base)); // plan of the 2r adapter
    const convLogits = llamaForward(
      effectiveParams(tree.ref(base), converted.params, plain.plan),
      tokens(),
      config,
    );
    expectClose(convLogits, expected.logits[`${method}_converted`], "converted logits");
    convLogits.dispose();
    // The converted adapter over the original base merges to the trained model over the residual.
    const a = merge(residualBase, trained.params, trained.plan);
    const b = merge(base, reference.params, reference.plan);
    for (const m of trained.plan.modules) {
      const key = `${m.name}.weight`;
      expectClose(b.params[key], read(a.params[key]), `merged ${key}`);
      expectClose(a.params[key], read(want[`merged.${key}`]), `PEFT merged ${key}`);
    }
    tree.dispose([
      a.params,
      b.params,
      residualBase,
      want,
      init.params,
      trained.params,
      reference.params,
      plain.params,
    ]);
    disposeMergeState(a.state);
    disposeMergeState(b.state);
    tree.dispose([created.params, created.initial!]);
  });
});

test("LoRA-GA from given gradients reproduces PEFT's factors and residual base", async () => {
  const ref = await loadAdapter(join(DIR, "lora_ga"), shapesOf(base));
  const want = await expectedTensors("lora_ga");
  const gradients = Object.fromEntries(
    Object.entries(want)
      .filter(([k]) => k.startsWith("gradient."))
      .map(([k, v]) => [k.slice("gradient.".length), v]),
  );
  expect(ref.config.loraGaConfig).toEqual({ direction: "ArB2r", scale: "stable", stableGamma: 16 });
  const made = createAdapter(base, ref.config, { gradients });
  expect(Object.keys(made.params).sort()).toEqual(Object.keys(ref.params).sort());
  for (const [key, a] of Object.entries(ref.params)) expectClose(made.params[key], read(a), key);
  for (const [key, w] of Object.entries(made.residual))
    expectClose(w, read(want[`residual.${key}`]), `residual ${key}`);
  tree.dispose([want, ref.params, made.params, made.residual, made.initial!]);
});

test("EVA from given layer inputs reproduces PEFT's ranks, scaling and factors", async () => {
  const ref = await loadAdapter(join(DIR, "eva"), shapesOf(base));
  const want = await expectedTensors("eva");
  const layerInputs = Object.fromEntries(
    Object.entries(want).map(([k, v]) => [k.slice("inputs.".length), v]),
  );
  // start from the config as the user wrote it: PEFT's EVA rewrites ranks, alphas and targets
  const start = {
    ...ref.config,
    targetModules: ["q_proj", "up_proj"],
    rankPattern: {},
    alphaPattern: {},
  };
  const made = createAdapter(base, start, { layerInputs });
  expect(made.config.rankPattern).toEqual(ref.config.rankPattern);
  expect(made.config.alphaPattern).toEqual(ref.config.alphaPattern);
  expect(made.config.targetModules).toEqual(ref.config.targetModules);
  expect(made.plan.modules.map((m) => [m.name, m.r, m.scaling])).toEqual(
    ref.plan.modules.map((m) => [m.name, m.r, m.scaling]),
  );
  for (const [key, a] of Object.entries(ref.params)) expectClose(made.params[key], read(a), key);
  tree.dispose([want, ref.params, made.params]);
});
