/**
 * Matrix-aware optimizers (Muon, SOAP, Shampoo, ASGO, COSMOS).
 *
 * Golden trajectories: test/fixtures/matrix_optimizers_<method>.json hold, for each case, a seeded
 * start, 24 seeded gradients, and the parameters and updates after every step as computed by the
 * references in tools/fixtures/matrix_optimizers.py (written from the authors' code, in torch,
 * float64). We replay the gradients through our optimizer and compare, at EVERY step, the
 * parameters (|ours − ref| ≤ 1e-4·|ref| + 1e-6) and the update itself (≤ 1e-3 of the largest
 * entry of that leaf's reference update, a check that the parameters alone would blur).
 * Also: option validation, leaf routing, and no leaked arrays over 20 steps (the linear algebra
 * they use is tested in test/linalg/matrix-functions.test.ts and newton-schulz.test.ts).
 */
import { readFileSync } from "node:fs";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { applyUpdates } from "../../src/optim/core.js";
import { adamw } from "../../src/optim/optimizers/adam.js";
import { asgo } from "../../src/optim/optimizers/asgo.js";
import { cosmos } from "../../src/optim/optimizers/cosmos.js";
import { MUON_ADAMW_DEFAULTS, muon } from "../../src/optim/optimizers/muon.js";
import { shampoo } from "../../src/optim/optimizers/shampoo.js";
import { soap } from "../../src/optim/optimizers/soap.js";
import { hiddenMatrices } from "../../src/optim/transforms/matrix-partition.js";
import { closeness, read, setup } from "../helpers/engine.js";
import { expectNoLeaks } from "../helpers/leaks.js";
import { expectResumeContinues } from "../helpers/optimizer-checks.js";
import { filled } from "../linalg/host-matrix.js";

type Leaves = Record<string, number[]>;

interface Case {
  name: string;
  optimizer: string;
  options: Record<string, unknown>;
  shapes: Record<string, number[]>;
  init: Leaves;
  grads: Leaves[];
  params: Leaves[];
  updates: Leaves[];
}

interface Optimizer {
  init(params: any): any;
  update(updates: any, state: any, params?: any): [any, any];
}

const RTOL = 1e-4;
const ATOL = 1e-6;
const UPDATE_TOL = 1e-3;

const factories: Record<string, (options: any) => Optimizer> = {
  muon,
  soap,
  shampoo,
  asgo,
  cosmos,
};

const fixture = (method: string): Case[] =>
  JSON.parse(
    readFileSync(new URL(`../fixtures/matrix_optimizers_${method}.json`, import.meta.url), "utf8"),
  ).cases;

const cases: Case[] = Object.keys(factories).flatMap(fixture);

function leafTree(values: Leaves, shapes: Case["shapes"]): Record<string, np.Array> {
  const out: Record<string, np.Array> = {};
  for (const [k, shape] of Object.entries(shapes)) {
    out[k] = np.array(Float32Array.from(values[k]), { shape });
  }
  return out;
}

const maxAbs = (xs: ArrayLike<number>) =>
  Array.from(xs).reduce((m, x) => Math.max(m, Math.abs(x)), 0);

/** Replay a case; returns a message for the first step that is off, or null. */
function replay(c: Case): string | null {
  const opt = factories[c.optimizer](c.options);
  let params = leafTree(c.init, c.shapes);
  let state = opt.init(tree.ref(params));
  let worstUpdate = 0;
  let worstParam = 0;
  try {
    for (let step = 0; step < c.grads.length; step++) {
      const grads = leafTree(c.grads[step], c.shapes);
      const [updates, next] = opt.update(grads, state, tree.ref(params));
      state = next;
      for (const k of Object.keys(c.shapes)) {
        expect(updates[k].shape).toEqual(c.shapes[k]);
        const actual = read(updates[k]);
        const expected = c.updates[step][k];
        const { ratio, index } = closeness(
          actual,
          expected,
          0,
          UPDATE_TOL * maxAbs(expected) + 1e-30,
        );
        worstUpdate = Math.max(worstUpdate, ratio);
        if (!(ratio <= 1)) {
          tree.dispose(updates);
          return (
            `${c.name}: step ${step + 1}, update ${k}[${index}] = ${actual[index]}, expected ` +
            `${expected[index]} (error ${ratio.toPrecision(3)}× the tolerance)`
          );
        }
      }
      params = applyUpdates(params, updates) as typeof params;
      for (const k of Object.keys(c.shapes)) {
        const actual = read(params[k]);
        const expected = c.params[step][k];
        const { ratio, index } = closeness(actual, expected, RTOL, ATOL);
        worstParam = Math.max(worstParam, ratio);
        if (!(ratio <= 1)) {
          return (
            `${c.name}: step ${step + 1}, ${k}[${index}] = ${actual[index]}, expected ` +
            `${expected[index]} (error ${ratio.toPrecision(3)}× the tolerance)`
          );
        }
      }
    }
  } finally {
    tree.dispose(params);
    tree.dispose(state);
  }
  if (process.env.MATRIX_MARGINS) {
    console.log(
      `${c.name}: updates ${worstUpdate.toFixed(3)}, params ${worstParam.toFixed(3)} of tolerance`,
    );
  }
  return null;
}

beforeAll(setup);

describe("golden trajectories (tools/fixtures/matrix_optimizers.py)", () => {
  test("every method has cases with 20+ steps", () => {
    expect(new Set(cases.map((c) => c.optimizer))).toEqual(new Set(Object.keys(factories)));
    for (const c of cases) {
      expect(c.grads.length, c.name).toBeGreaterThanOrEqual(20);
      expect(c.params.length, c.name).toBe(c.grads.length);
      expect(c.updates.length, c.name).toBe(c.grads.length);
    }
  });

  test.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    expect(replay(c)).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------
// Routing, options, schedules, leaks.

const model = () => ({
  layer: { weight: filled(4, 3, 1), bias: np.array(new Float32Array([0.1, -0.2, 0.3])) },
  conv: np.array(
    Float32Array.from({ length: 24 }, (_, i) => Math.cos(i)),
    { shape: [3, 2, 2, 2] },
  ),
});

function gradsAt(step: number) {
  const fill = (n: number, salt: number) =>
    Float32Array.from({ length: n }, (_, i) => Math.sin(1.7 * step + 0.9 * i + salt));
  return {
    layer: {
      weight: np.array(fill(12, 0), { shape: [4, 3] }),
      bias: np.array(fill(3, 5), { shape: [3] }),
    },
    conv: np.array(fill(24, 2), { shape: [3, 2, 2, 2] }),
  };
}

describe("routing of leaves", () => {
  test("muon sends non-matrix leaves to AdamW with the authors' auxiliary-Adam defaults", () => {
    const opt = muon();
    const ref = adamw(MUON_ADAMW_DEFAULTS);
    const params = model();
    let state = opt.init(tree.ref(params));
    let refState = ref.init(params.layer.bias.ref);
    for (let step = 0; step < 3; step++) {
      const g = gradsAt(step);
      const [u, s] = opt.update(tree.share(g), state, tree.ref(params));
      const [ru, rs] = ref.update(g.layer.bias.ref, refState, params.layer.bias.ref);
      state = s;
      refState = rs;
      expect(Array.from(read((u as any).layer.bias))).toEqual(Array.from(read(ru as np.Array)));
      tree.dispose([u, ru, g]);
    }
    tree.dispose([params, state, refState]);
  });

  test("hiddenMatrices leaves embeddings and the output head to the fallback", () => {
    const m = np.zeros([2, 2]);
    const v = np.zeros([2]);
    expect(hiddenMatrices(m, "model.layers.0.mlp.up_proj.weight")).toBe(true);
    expect(hiddenMatrices(m, "model.embed_tokens.weight")).toBe(false);
    expect(hiddenMatrices(m, "lm_head.weight")).toBe(false);
    expect(hiddenMatrices(m, "transformer.wte.weight")).toBe(false);
    expect(hiddenMatrices(v, "model.layers.0.mlp.up_proj.bias")).toBe(false);
    tree.dispose([m, v]);
  });

  test("isMatrix as a tree of flags; a vector flagged as a matrix is refused by name", () => {
    const flags = { layer: { weight: false, bias: false }, conv: true };
    const opt = muon({ isMatrix: flags });
    const params = model();
    const state = opt.init(tree.ref(params));
    expect(Object.keys(state).sort()).toEqual(["fallback", "matrix"]);
    tree.dispose(state);
    const bad = muon({ isMatrix: () => true });
    expect(() => bad.init(tree.ref(params))).toThrow(/layer\.bias.*isMatrix/);
    for (const make of [soap, shampoo, asgo, cosmos]) {
      expect(() => make({ isMatrix: () => true }).init(tree.ref(params))).toThrow(/layer\.bias/);
    }
    tree.dispose(params);
  });
});

describe("options", () => {
  const bad: [string, () => unknown, RegExp][] = [
    ["muon unknown", () => muon({ beta: 0.9 } as any), /unknown option "beta"/],
    ["muon momentum", () => muon({ momentum: 1 }), /momentum/],
    ["muon nsSteps", () => muon({ nsSteps: 0 }), /nsSteps/],
    [
      "muon scaling",
      () => muon({ scaling: "rms" as any }),
      /scaling must be one of original, matchAdamW/,
    ],
    ["muon nesterov", () => muon({ nesterov: 1 as any }), /nesterov/],
    ["muon adamw", () => muon({ adamw: { b3: 1 } as any }), /unknown option "b3"/],
    ["soap precondFrequency", () => soap({ precondFrequency: 0 }), /precondFrequency/],
    ["soap shampooBeta", () => soap({ shampooBeta: 1.5 }), /shampooBeta/],
    ["soap maxPrecondDim", () => soap({ maxPrecondDim: 2.5 }), /maxPrecondDim/],
    ["shampoo b2", () => shampoo({ b2: 1.5 }), /b2 must be in \(0, 1\]/],
    [
      "shampoo graft",
      () => shampoo({ graft: "adagrad" as any }),
      /graft must be one of adam, sgd, none/,
    ],
    ["shampoo startPrecondStep", () => shampoo({ startPrecondStep: 0 }), /startPrecondStep/],
    ["asgo steps", () => asgo({ steps: 0 }), /steps/],
    ["asgo b2", () => asgo({ b2: -0.1 }), /b2/],
    ["cosmos rank", () => cosmos({ rank: 0 }), /rank/],
    ["cosmos lrRatio", () => cosmos({ lrRatio: 0 }), /lrRatio/],
    ["cosmos learningRate", () => cosmos({ learningRate: -1 }), /learningRate/],
  ];
  test.each(bad)("%s is refused with a message naming it", (_name, make, message) => {
    expect(make).toThrow(message);
  });
});

test("a learning-rate schedule is read at each step", () => {
  const constant = muon({ learningRate: 0.02 });
  const scheduled = muon({ learningRate: (t) => 0.02 * (t + 1) });
  const params = model();
  let a = constant.init(tree.ref(params));
  let b = scheduled.init(tree.ref(params));
  for (let step = 0; step < 3; step++) {
    const [ua, sa] = constant.update(gradsAt(step), a, tree.ref(params));
    const [ub, sb] = scheduled.update(gradsAt(step), b, tree.ref(params));
    a = sa;
    b = sb;
    const x = read((ua as any).layer.weight).map((v) => v * (step + 1));
    expect(closeness(read((ub as any).layer.weight), x, 1e-6, 1e-9).ratio).toBeLessThanOrEqual(1);
    tree.dispose([ua, ub]);
  }
  tree.dispose([params, a, b]);
});

test.each([
  ["soap", () => soap({ precondFrequency: 2, maxPrecondDim: 3 })],
  ["shampoo", () => shampoo({ precondFrequency: 2, startPrecondStep: 3 })],
  ["cosmos", () => cosmos({ rank: 2 })],
] as const)(
  "%s state is a plain tree: saved and restored, it continues identically",
  (_n, make) => {
    expectResumeContinues(make, model, gradsAt, { before: 3, after: 3 });
  },
);

describe("no leaks", () => {
  const STEPS = 20;
  const WARMUP = 3; // Shampoo's roots appear at startPrecondStep
  const optimizers: [string, () => Optimizer][] = [
    ["muon", () => muon({ weightDecay: 0.1 })],
    ["muon (matchAdamW, no nesterov)", () => muon({ scaling: "matchAdamW", nesterov: false })],
    ["soap", () => soap({ precondFrequency: 2, normalizeGrads: true })],
    ["soap (one-sided)", () => soap({ precondFrequency: 3, maxPrecondDim: 3 })],
    ["shampoo", () => shampoo({ precondFrequency: 2, startPrecondStep: 2, weightDecay: 0.1 })],
    [
      "shampoo (sgd graft, no momentum)",
      () => shampoo({ graft: "sgd", b1: 0, precondFrequency: 1 }),
    ],
    ["asgo", () => asgo()],
    ["cosmos", () => cosmos({ rank: 2, weightDecay: 0.1 })],
  ];
  test.each(optimizers)("%s: 20 steps leave only params and state alive", async (_name, make) => {
    await expectNoLeaks({ make, params: model, grads: gradsAt, steps: STEPS, warmup: WARMUP });
  });
});
