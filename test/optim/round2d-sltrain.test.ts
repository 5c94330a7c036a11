/**
 * SLTrain, `sltrain` (issue 17): golden trajectories from tools/fixtures/round2d_sltrain.py (the
 * authors' SpLoRaLinear re-implemented in float64 torch, values scattered into W, autograd and
 * torch.optim.AdamW; same initial draws; every one of 24 steps within 1e-4 relative), the support's
 * law, the first gradient point, exact resume, stateBytes, leaks and option errors.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { Xoshiro128 } from "../../src/engine/rng.js";
import * as tree from "../../src/engine/tree.js";
import { applyUpdates } from "../../src/optim/core.js";
import { sltrain, sltrainPoint } from "../../src/optim/optimizers/sltrain.js";
import { randomSupport } from "../../src/optim/transforms/seeded-init.js";
import { getOptimizer } from "../../src/train/registry.js";
import { read, setup } from "../helpers/engine.js";
import { expectNoLeaks } from "../helpers/leaks.js";
import {
  expectExactResume,
  expectResumeContinues,
  goldenTrajectories,
  loadGolden,
  type Named,
  smallGrads,
  smallTree,
} from "../helpers/optimizer-checks.js";

const fixture = loadGolden<{ name: string; options: any; params: Named[] }>("round2d_sltrain");

beforeAll(setup);

goldenTrajectories(fixture, (c) => sltrain(c.options));

test("the support is uniform: each entry drawn with probability count / size", () => {
  const gen = Xoshiro128.fromSeed(4);
  const size = 10;
  const count = 3;
  const hits = new Array(size).fill(0);
  const draws = 6000;
  for (let i = 0; i < draws; i++) {
    const s = randomSupport(gen, size, count);
    expect(new Set(s).size).toBe(count);
    expect(Array.from(s)).toEqual(Array.from(s).sort((a, b) => a - b));
    for (const at of s) hits[at]++;
  }
  const p = count / size;
  for (const h of hits)
    expect(Math.abs(h / draws - p)).toBeLessThan(4.5 * Math.sqrt((p * (1 - p)) / draws));
});

const start = smallTree((i) => 0.3 * Math.cos(1.1 * i) + 0.05 * i);
const gradsAt = smallGrads;

test("the first gradient is taken at S (B = 0), later ones at the params; W stays (α/r)BA + S", () => {
  const opt = sltrain({ learningRate: 0.05, rank: 2, loraAlpha: 4, density: 0.5 });
  let params: any = start();
  let state = opt.init(tree.ref(params));
  const leaf = state.matrix.leaves.w;
  const support = read(leaf.support);
  expect(support.reduce((a, b) => a + b, 0)).toBe(6); // ⌊0.5·12⌋ entries
  const first: any = sltrainPoint(tree.ref(params), state.matrix, { rank: 2, loraAlpha: 4 });
  const s = read(leaf.s);
  read(first.w).forEach((x, i) => {
    expect(x).toBe(s[i]);
    if (support[i] === 0) expect(x).toBe(0);
    else expect(Math.abs(x)).toBeLessThanOrEqual(1 / Math.sqrt(3));
  });
  expect(read(first.b)).toEqual(read(params.b));
  tree.dispose(first);
  for (let step = 0; step < 3; step++) {
    const [u, next] = opt.update(gradsAt(step), state, tree.ref(params));
    state = next;
    params = applyUpdates(params, u);
  }
  const later: any = sltrainPoint(tree.ref(params), state.matrix, { rank: 2, loraAlpha: 4 });
  expect(read(later.w)).toEqual(read(params.w));
  const l = state.matrix.leaves.w;
  const w = np.matmul(l.b.ref, l.a.ref).mul(2).add(l.s.ref);
  const actual = read(params.w);
  read(w).forEach((x, i) => {
    expect(Math.abs(x - actual[i])).toBeLessThan(1e-6);
  });
  // S never leaves its support.
  read(l.s).forEach((x, i) => {
    if (support[i] === 0) expect(x).toBe(0);
  });
  tree.dispose([later, params, state, w]);
});

test("the registry's sltrain takes its first gradient at S through predict, then at the params", () => {
  const entry = getOptimizer("sltrain");
  const options = { rank: 2, density: 0.5 };
  const opt = entry.create({ ...options, learningRate: 0.05 });
  let params: any = { "layers.0.mlp.w": start().w, embed_tokens: start().w };
  let state = opt.init(tree.ref(params));
  const point: any = entry.predict?.(tree.ref(params), state, () => 0.05, options);
  expect(read(point["layers.0.mlp.w"])).toEqual(read(state.matrix.leaves["layers.0.mlp.w"].s));
  expect(read(point.embed_tokens)).toEqual(read(params.embed_tokens)); // AdamW's leaf
  tree.dispose(point);
  const grads = { "layers.0.mlp.w": gradsAt(0).w, embed_tokens: gradsAt(1).w };
  const [u, next] = opt.update(grads, state, tree.ref(params));
  state = next;
  params = applyUpdates(params, u);
  const later: any = entry.predict?.(tree.ref(params), state, () => 0.05, options);
  expect(read(later["layers.0.mlp.w"])).toEqual(read(params["layers.0.mlp.w"]));
  tree.dispose([later, params, state]);
});

describe("state", () => {
  // w (4×3, r = 2): B 8 + A 6 + S 12 + M 12, AdamW's two moments of B, A, S 2·26; b: 2·3.
  test("resumes bit for bit; stateBytes", () => {
    const make = () => sltrain({ learningRate: 0.05, rank: 2, density: 0.5, weightDecay: 0.1 });
    expect(expectExactResume(make(), start, gradsAt)).toBe(4 * (8 + 6 + 12 + 12 + 2 * 26 + 6));
    expectResumeContinues(make, start, gradsAt, { before: 3, after: 3 });
  });

  test("leaks nothing", async () => {
    await expectNoLeaks({
      make: () => sltrain({ learningRate: 0.05, rank: 2, density: 0.5, weightDecay: 0.1 }),
      params: start,
      grads: gradsAt,
      steps: 10,
      warmup: 1,
    });
  });
});

test("bad options name the option and the accepted values", () => {
  expect(() => sltrain({ rank: 0 })).toThrow(/rank must be an integer ≥ 1/);
  expect(() => sltrain({ density: 1 })).toThrow(/density must be in \(0, 1\)/);
  expect(() => sltrain({ density: 0 })).toThrow(/density must be > 0/);
  expect(() => sltrain({ loraAlpha: -1 })).toThrow(/loraAlpha must be > 0/);
  expect(() => sltrain({ sp_ratio: 0.1 } as any)).toThrow(/unknown option "sp_ratio".*accepted/);
  const opt = sltrain();
  const state = opt.init(start());
  expect(() => opt.update(gradsAt(0), state)).toThrow(/sltrain needs params/);
  tree.dispose(state);
});
