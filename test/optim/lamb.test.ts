/**
 * LAMB (You et al. 2019). Golden trajectories: test/fixtures/lamb.json holds, per case, the
 * parameters after each of 30 seeded gradients as tools/fixtures/lamb.py computes them (a torch
 * loop written from the paper's Algorithm 2, independent of this code); every step must match to
 * 1e-4 relative. Plus: the trust ratio on a hand-computed case, the registry entry, state bytes,
 * state round trip through a state file, option checks and leaks.
 */
import { readFileSync } from "node:fs";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { decodeTree, encodeTree } from "../../src/io/state-file.js";
import { applyUpdates } from "../../src/optim/core.js";
import { LAMB_DEFAULTS, lamb, scaleByTrustRatio } from "../../src/optim/optimizers/lamb.js";
import { getOptimizer } from "../../src/train/registry.js";
import { read, setup } from "../helpers/engine.js";
import { expectNoLeaks } from "../helpers/leaks.js";
import { type Leaves, replay, type TrajectoryCase } from "../helpers/trajectory.js";

interface Fixture {
  meta: { rtol: number; atol: number; steps: number };
  shapes: { w: number[]; b: number[] };
  grads: Leaves[];
  cases: { name: string; options: Record<string, number>; init: Leaves; params: Leaves[] }[];
}

const fixture: Fixture = JSON.parse(
  readFileSync(new URL("../fixtures/lamb.json", import.meta.url), "utf8"),
);
const TOL = { rtol: 1e-4, atol: 1e-7 };
const asCase = (c: Fixture["cases"][number]): TrajectoryCase => ({
  name: c.name,
  shapes: fixture.shapes,
  init: c.init,
  grads: fixture.grads,
  params: c.params,
});

beforeAll(setup);

describe("golden trajectories (tools/fixtures/lamb.py)", () => {
  test("the fixture has 20+ steps per case at the test's tolerance", () => {
    expect(fixture.meta.rtol).toBe(TOL.rtol);
    expect(fixture.grads.length).toBeGreaterThanOrEqual(20);
    for (const c of fixture.cases) expect(c.params.length).toBe(fixture.grads.length);
  });

  test.each(fixture.cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    expect(replay(asCase(c), lamb(c.options), TOL)).toBeNull();
  });

  test("a schedule is evaluated per step; a wrong clamp does not match", () => {
    const c = fixture.cases.find((x) => x.name === "lamb/clamped");
    if (!c) throw new Error("no clamped case");
    const lr = c.options.learningRate;
    expect(replay(asCase(c), lamb({ ...c.options, learningRate: () => lr }), TOL)).toBeNull();
    expect(replay(asCase(c), lamb({ ...c.options, clampValue: 0 }), TOL)).not.toBeNull();
  });

  test("the registry's lamb with the fixture's options is the same optimizer", () => {
    const c = fixture.cases[1];
    const { learningRate, ...rest } = c.options;
    const opt = getOptimizer("lamb").create({ ...rest, learningRate });
    expect(replay(asCase(c), opt, TOL)).toBeNull();
  });
});

describe("the trust ratio", () => {
  test("scales each leaf by min(‖p‖, clamp)/‖u‖, and by 1 when a norm is 0", () => {
    const t = scaleByTrustRatio(8);
    const params = { a: np.array([3, 4]), big: np.array([0, 30, 40]), zero: np.zeros([2]) };
    const updates = { a: np.array([0, 10]), big: np.array([1, 0, 0]), zero: np.array([1, 2]) };
    const state = t.init(tree.ref(params));
    const [out] = t.update(updates, state, params) as [any, unknown];
    // a: ‖p‖ = 5, ‖u‖ = 10 → 0.5; big: ‖p‖ = 50 clamped to 8, ‖u‖ = 1 → 8; zero: ‖p‖ = 0 → 1.
    expect(Array.from(read(out.a))).toEqual([0, 5]);
    expect(Array.from(read(out.big))).toEqual([8, 0, 0]);
    expect(Array.from(read(out.zero))).toEqual([1, 2]);
    tree.dispose(out);
  });
});

describe("state", () => {
  const params = () => ({ w: np.ones([4, 3]).mul(0.5), b: np.zeros([3]) });
  const grads = (k: number) => ({ w: np.ones([4, 3]).mul(0.1 * k), b: np.ones([3]).mul(-k) });

  test("stateBytes: two float32 moments per parameter", () => {
    const state = lamb().init(params());
    // Adam's m and v: 2 × 15 floats × 4 bytes; the counts are numbers, not arrays.
    expect(tree.stateBytes(state)).toBe(2 * 15 * 4);
    tree.dispose(state);
  });

  test("a state saved and read back continues bit for bit", () => {
    const opt = lamb({ learningRate: 0.01, weightDecay: 0.1 });
    let p = params();
    let state = opt.init(tree.ref(p));
    for (let k = 1; k <= 2; k++) {
      const [u, next] = opt.update(grads(k), state, tree.ref(p));
      state = next;
      p = applyUpdates(p, u);
    }
    const loaded = decodeTree(encodeTree(tree.ref(state))).tree;
    const step = (s: any) => {
      const [u, next] = opt.update(grads(3), s, tree.ref(p));
      tree.dispose(next);
      const after = applyUpdates(tree.ref(p), u);
      const w = read(after.w);
      tree.dispose(after);
      return w;
    };
    expect(Buffer.from(step(loaded).buffer)).toEqual(Buffer.from(step(state).buffer));
    tree.dispose(p);
  });

  test("no leaks", async () => {
    await expectNoLeaks({
      make: () => lamb({ weightDecay: 0.01 }),
      params,
      grads,
      steps: 4,
      warmup: 1,
    });
  });
});

describe("options", () => {
  test("defaults are pytorch_optimizer's; bad options are refused by name", () => {
    expect(LAMB_DEFAULTS).toEqual({
      b1: 0.9,
      b2: 0.999,
      eps: 1e-6,
      weightDecay: 0,
      clampValue: 10,
    });
    expect(() => lamb({ clampValue: -1 })).toThrow(/clampValue/);
    expect(() => lamb({ weightDecay: -1 })).toThrow(/weightDecay/);
    expect(() => lamb({ b1: 1.5 })).toThrow(/b1/);
    expect(() => lamb({ momentum: 0.9 } as never)).toThrow(/momentum/);
  });
});
