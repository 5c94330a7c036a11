import { readFileSync } from "node:fs";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import {
  initMlp,
  type MlpParams,
  makeMlpLossAndGrad,
  mlpAccuracy,
  mlpConfig,
  mlpForward,
  mlpLoss,
} from "../../src/nn/mlp.js";
import { closeness, liveBuffers, read, setup } from "../helpers/engine.js";

beforeAll(setup);

interface Case {
  name: string;
  sizes: number[];
  activation: "relu" | "gelu" | "tanh";
  params: Record<string, { shape: number[]; data: number[] }>;
  inputs: { shape: number[]; data: number[] };
  labels: number[];
  logits: number[];
  loss: number;
  accuracy: number;
  grads: Record<string, number[]>;
}

const fixture = JSON.parse(
  readFileSync(new URL("../fixtures/mlp_reference.json", import.meta.url), "utf8"),
) as { cases: Case[] };

const tensor = (t: { shape: number[]; data: number[] }) =>
  np.array(new Float32Array(t.data)).reshape(t.shape);
const loadParams = (c: Case): MlpParams =>
  Object.fromEntries(Object.entries(c.params).map(([name, t]) => [name, tensor(t)]));
const labels = (c: Case) => np.array(c.labels, { dtype: np.int32 });

describe.each(fixture.cases.map((c) => [c.name, c] as const))("MLP vs PyTorch: %s", (_, c) => {
  const config = mlpConfig({ sizes: c.sizes, activation: c.activation });

  test("logits, loss and accuracy", () => {
    const params = loadParams(c);
    const logits = mlpForward(tree.ref(params), tensor(c.inputs), config);
    expect(closeness(read(logits), c.logits, 1e-4, 1e-6).ratio).toBeLessThanOrEqual(1);
    logits.dispose();
    const loss = mlpLoss(tree.ref(params), tensor(c.inputs), labels(c), config);
    expect(closeness(read(loss), [c.loss], 1e-4).ratio).toBeLessThanOrEqual(1);
    loss.dispose();
    const acc = mlpAccuracy(params, tensor(c.inputs), labels(c), config);
    expect(read(acc)[0]).toBeCloseTo(c.accuracy, 6);
    acc.dispose();
  });

  test("jit'ed loss and every gradient", () => {
    const lossAndGrad = makeMlpLossAndGrad(config);
    const [loss, grads] = lossAndGrad(loadParams(c), tensor(c.inputs), labels(c));
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

test("init follows nn.Linear's U(-1/sqrt(fan_in), 1/sqrt(fan_in)) and is seeded", () => {
  const config = mlpConfig({ sizes: [16, 32, 4], activation: "tanh" });
  const a = initMlp(config, 7);
  const b = initMlp(config, 7);
  const c = initMlp(config, 8);
  expect(Object.keys(a)).toEqual(["0.weight", "0.bias", "2.weight", "2.bias"]);
  expect(a["0.weight"].shape).toEqual([32, 16]);
  expect(a["2.bias"].shape).toEqual([4]);
  const w0 = read(a["0.weight"]);
  expect(Math.max(...w0.map(Math.abs))).toBeLessThanOrEqual(1 / 4);
  expect(Math.max(...w0.map(Math.abs))).toBeGreaterThan(0.2); // 512 draws fill the range
  expect(Math.max(...read(a["2.weight"]).map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(32));
  expect(read(a["0.weight"])).toEqual(read(b["0.weight"]));
  expect(read(a["0.weight"])).not.toEqual(read(c["0.weight"]));
  for (const p of [a, b, c]) tree.dispose(p);
});

test("bad options name the option", () => {
  expect(() => mlpConfig({ sizes: [4] })).toThrow(/sizes/);
  expect(() => mlpConfig({ sizes: [4, 0, 2] })).toThrow(RangeError);
  expect(() => mlpConfig({ sizes: [4, 2], activation: "swish" as any })).toThrow(
    /activation must be one of relu, gelu, tanh/,
  );
});

test("jit'ed MLP loss-and-grad leaks no buffers over 5 calls", async () => {
  const c = fixture.cases[0];
  const config = mlpConfig({ sizes: c.sizes, activation: c.activation });
  const lossAndGrad = makeMlpLossAndGrad(config);
  const params = loadParams(c);
  const x = tensor(c.inputs);
  const y = labels(c);
  const step = () => {
    const [loss, grads] = lossAndGrad(tree.ref(params), x.ref, y.ref);
    loss.dataSync();
    tree.dispose(grads);
  };
  step();
  const before = await liveBuffers();
  for (let i = 0; i < 5; i++) step();
  expect(await liveBuffers()).toBe(before);
  tree.dispose(params);
  x.dispose();
  y.dispose();
  lossAndGrad.dispose();
});
