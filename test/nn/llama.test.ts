import { readFileSync } from "node:fs";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { type LlamaParams, llamaForward, llamaLoss, makeLossAndGrad } from "../../src/nn/llama.js";
import { llamaConfig } from "../../src/nn/llama-config.js";
import { closeness, liveBuffers, read, setup } from "../helpers/engine.js";

beforeAll(setup);

interface Case {
  name: string;
  config: Record<string, any>;
  tokens: number[][];
  targets: number[][];
  params: Record<string, { shape: number[]; data: number[] }>;
  logits: number[];
  loss: number;
  grads: Record<string, number[]>;
}

const fixture = JSON.parse(
  readFileSync(new URL("../fixtures/llama_reference.json", import.meta.url), "utf8"),
) as { cases: Case[] };

const loadParams = (c: Case): LlamaParams =>
  Object.fromEntries(
    Object.entries(c.params).map(([name, p]) => [
      name,
      np.array(new Float32Array(p.data)).reshape(p.shape),
    ]),
  );
const ints = (rows: number[][]) => np.array(rows, { dtype: np.int32 });
const configOf = (c: Case) => llamaConfig(c.config as any);

describe.each(fixture.cases.map((c) => [c.name, c] as const))("LLaMA vs PyTorch: %s", (_, c) => {
  test("logits and loss", () => {
    const config = configOf(c);
    const params = loadParams(c);
    const logits = llamaForward(tree.ref(params), ints(c.tokens), config);
    expect(logits.shape).toEqual([c.tokens.length, c.tokens[0].length, config.vocab_size]);
    expect(closeness(read(logits), c.logits, 1e-4, 1e-6).ratio).toBeLessThanOrEqual(1);
    logits.dispose();
    const loss = llamaLoss(params, ints(c.tokens), ints(c.targets), config);
    expect(closeness(read(loss), [c.loss], 1e-4).ratio).toBeLessThanOrEqual(1);
    loss.dispose();
  });

  test("jit'ed loss and every gradient", () => {
    const config = configOf(c);
    const lossAndGrad = makeLossAndGrad(config);
    const [loss, grads] = lossAndGrad(loadParams(c), ints(c.tokens), ints(c.targets));
    expect(closeness(read(loss), [c.loss], 1e-4).ratio).toBeLessThanOrEqual(1);
    expect(Object.keys(grads).sort()).toEqual(Object.keys(c.grads).sort());
    for (const [name, expected] of Object.entries(c.grads)) {
      const worst = closeness(read(grads[name]), expected, 1e-4, 1e-6);
      expect({ name, ...worst, ok: worst.ratio <= 1 }).toMatchObject({ name, ok: true });
    }
    loss.dispose();
    tree.dispose(grads);
    lossAndGrad.dispose();
  });
});

test("jit'ed loss-and-grad leaks no buffers over 5 calls", async () => {
  const c = fixture.cases[0];
  const config = configOf(c);
  const lossAndGrad = makeLossAndGrad(config);
  const params = loadParams(c);
  const tokens = ints(c.tokens);
  const targets = ints(c.targets);
  const step = () => {
    const [loss, grads] = lossAndGrad(tree.ref(params), tokens.ref, targets.ref);
    loss.dataSync();
    tree.dispose(grads);
  };
  step(); // compile
  const before = await liveBuffers();
  for (let i = 0; i < 5; i++) step();
  expect(await liveBuffers()).toBe(before);
  tree.dispose(params);
  tokens.dispose();
  targets.dispose();
  lossAndGrad.dispose();
});
