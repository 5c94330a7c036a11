/**
 * Training an adapter with registered optimizers (AdamW, Muon, GaLore): the jit'ed loss and
 * adapter gradient drive a few steps that reduce the loss, the gradient tree is exactly the
 * adapter tree (the base gets no gradient and no optimizer state), and the base stays
 * bit-identical. DoRA trains through its detached norm. A step leaks no buffers.
 */
import { join } from "node:path";
import { numpy as np, random } from "@jax-js/jax";
import { beforeAll, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import type { LlamaParams } from "../../src/nn/llama.js";
import type { LlamaConfig } from "../../src/nn/llama-config.js";
import { loadModel } from "../../src/nn/pretrained.js";
import { applyUpdates } from "../../src/optim/core.js";
import {
  createAdapter,
  type LoraConfigInput,
  loraConfig,
  makeAdapterLossAndGrad,
} from "../../src/peft/index.js";
import { getOptimizer } from "../../src/train/registry.js";
import { liveBuffers, setup } from "../helpers/engine.js";

let base: LlamaParams;
let config: LlamaConfig;
beforeAll(async () => {
  await setup();
  const model = await loadModel(join(import.meta.dirname, "..", "fixtures", "peft", "base"));
  base = model.params;
  config = model.config as LlamaConfig;
});

const bits = (a: np.Array) => {
  const d = a.ref.dataSync() as Float32Array;
  return Array.from(new Uint32Array(d.buffer, d.byteOffset, d.length));
};

/** A fixed batch: a repeated pattern the adapter can learn. */
function batch() {
  const seq = random
    .randint(random.key(4), { minval: 0, maxval: 32, shape: [4, 9] })
    .astype(np.int32);
  return { inputs: seq.ref.slice([], [0, 8]), targets: seq.slice([], [1, 9]) };
}

test.each([
  ["adamw", 1e-2, { r: 4, loraAlpha: 8, targetModules: ["q_proj", "v_proj", "up_proj"] }],
  ["muon", 2e-2, { r: 4, loraAlpha: 8, targetModules: "all-linear", useRslora: true }],
  [
    "galore",
    1e-2,
    { r: 4, loraAlpha: 8, targetModules: ["q_proj", "down_proj"], modulesToSave: ["lm_head"] },
  ],
  ["adamw", 1e-2, { r: 2, loraAlpha: 4, targetModules: ["k_proj", "gate_proj"], useDora: true }],
] as [string, number, LoraConfigInput][])(
  "%s trains the adapter (lr %s, %o); the base stays bit-identical",
  (name, lr, input) => {
    const before = Object.fromEntries(Object.entries(base).map(([k, v]) => [k, bits(v)]));
    const made = createAdapter(base, loraConfig(input), { seed: 2 });
    let adapter = made.params;
    const lossAndGrad = makeAdapterLossAndGrad(made.plan, config);
    const opt = getOptimizer(name).create({ learningRate: lr });
    let state = opt.init(tree.ref(adapter));
    const { inputs, targets } = batch();
    const losses: number[] = [];
    for (let step = 0; step < 8; step++) {
      const [loss, grads] = lossAndGrad(tree.ref(adapter), tree.ref(base), inputs.ref, targets.ref);
      losses.push((loss.dataSync() as Float32Array)[0]);
      if (step === 0) expect(Object.keys(grads).sort()).toEqual(Object.keys(adapter).sort());
      const [updates, next] = opt.update(grads, state, tree.ref(adapter));
      state = next;
      adapter = applyUpdates(adapter, updates);
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[7]).toBeLessThan(losses[0] - 0.05);
    for (const [k, v] of Object.entries(base)) expect(bits(v), k).toEqual(before[k]);
    tree.dispose([adapter, state, inputs, targets]);
    lossAndGrad.dispose();
  },
);

test("an adapter training step leaks no buffers", async () => {
  await liveBuffers(); // start counting before anything of this test exists
  const made = createAdapter(base, loraConfig({ r: 2, targetModules: ["q_proj"], useDora: true }));
  let adapter = made.params;
  const lossAndGrad = makeAdapterLossAndGrad(made.plan, config);
  const opt = getOptimizer("adamw").create({ learningRate: 1e-3 });
  let state = opt.init(tree.ref(adapter));
  const { inputs, targets } = batch();
  const step = () => {
    const [loss, grads] = lossAndGrad(tree.ref(adapter), tree.ref(base), inputs.ref, targets.ref);
    loss.dataSync(); // consumes the loss
    const [updates, next] = opt.update(grads, state, tree.ref(adapter));
    state = next;
    adapter = applyUpdates(adapter, updates);
  };
  step();
  step();
  const live = await liveBuffers();
  for (let i = 0; i < 3; i++) step();
  expect(await liveBuffers()).toBe(live);
  tree.dispose([adapter, state, inputs, targets]);
  lossAndGrad.dispose();
});
