/**
 * Sparse Spectral Training, `sst` (issue 17): golden trajectories from tools/fixtures/round2d_sst.py
 * (the paper's rule in float64 torch, drawing the same indices from the same PRNG; every one of 24
 * steps within 1e-4 relative, re-SVDs and fresh draws included), the draw's law against its
 * closed form, the spectral form staying exact, exact resume, stateBytes, leaks and option errors.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { Xoshiro128 } from "../../src/engine/rng.js";
import * as tree from "../../src/engine/tree.js";
import { applyUpdates } from "../../src/optim/core.js";
import { sst } from "../../src/optim/optimizers/sst.js";
import { drawWithoutReplacement } from "../../src/optim/transforms/weighted-draw.js";
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

const fixture = loadGolden<{ name: string; options: any; params: Named[] }>("round2d_sst");

beforeAll(setup);

goldenTrajectories(fixture, (c) => sst(c.options));

test("the draw follows successive sampling's law: P(first pick = i) = w_i / Σw", () => {
  // r = 1: each index's frequency over 20 000 draws within 4.5 standard deviations of w_i / Σw.
  const weights = [0.5, 3, 1, 0.25, 2.25];
  const total = weights.reduce((a, b) => a + b, 0);
  const gen = Xoshiro128.fromSeed(11);
  const counts = new Array(weights.length).fill(0);
  const draws = 20000;
  for (let i = 0; i < draws; i++) counts[drawWithoutReplacement(gen, weights, 1)[0]]++;
  weights.forEach((w, i) => {
    const p = w / total;
    expect(Math.abs(counts[i] / draws - p)).toBeLessThan(4.5 * Math.sqrt((p * (1 - p)) / draws));
  });
  // r = 2: P({0, 1}) = p0·p1/(1−p0) + p1·p0/(1−p1), the closed form of two successive picks.
  const pair = [0.2, 0.5, 0.3];
  let both = 0;
  for (let i = 0; i < draws; i++) {
    const [a, b] = drawWithoutReplacement(gen, pair, 2);
    if (a === 0 && b === 1) both++;
  }
  const expected = (0.2 * 0.5) / 0.8 + (0.5 * 0.2) / 0.5;
  const sd = Math.sqrt((expected * (1 - expected)) / draws);
  expect(Math.abs(both / draws - expected)).toBeLessThan(4.5 * sd);
  // Distinct, sorted, every index once when r = n.
  expect(drawWithoutReplacement(gen, pair, 3)).toEqual([0, 1, 2]);
});

const start = smallTree((i) => 0.3 * Math.cos(1.1 * i) + 0.05 * i);
const gradsAt = smallGrads;

test("the weights stay the state's U diag(s) Vᵀ, with orthonormal trained columns", () => {
  const opt = sst({ learningRate: 0.05, rank: 2, iterationSteps: 2, roundIterations: 2 });
  let params: any = start();
  let state = opt.init(tree.ref(params));
  for (let step = 0; step < 5; step++) {
    const [u, next] = opt.update(gradsAt(step), state, tree.ref(params));
    state = next;
    params = applyUpdates(params, u);
  }
  const leaf = state.matrix.leaves.w;
  const w = np.matmul(leaf.u.ref.mul(leaf.s.ref.reshape([1, -1])), leaf.v.ref.transpose());
  const actual = read(params.w);
  read(w).forEach((x, i) => {
    expect(Math.abs(x - actual[i])).toBeLessThan(1e-6);
  });
  // Every column of U and V has unit norm; s ≥ 0.
  for (const m of [leaf.u, leaf.v]) {
    for (const n of read(np.sqrt(np.square(m.ref).sum(0))))
      expect(Math.abs(n - 1)).toBeLessThan(1e-5);
  }
  expect(Array.from(read(leaf.s)).every((x) => x >= 0)).toBe(true);
  tree.dispose([params, state, w]);
});

describe("state", () => {
  // w (4×3, k = 3, r = 3): U 12 + s 3 + V 9, s's moments 2·3, U's and V's moments 2·(12 + 9);
  // b: AdamW's two moments 2·3. 78 floats.
  test("resumes bit for bit (a draw and a re-SVD after the round trip); stateBytes", () => {
    const make = () => sst({ learningRate: 0.05, rank: 2, iterationSteps: 2, roundIterations: 2 });
    expect(expectExactResume(make(), start, gradsAt)).toBe(
      4 * (12 + 3 + 9 + 6 + 2 * 8 + 2 * 6 + 6),
    );
    expectResumeContinues(make, start, gradsAt, { before: 3, after: 3 });
    expect(expectExactResume(sst(), start, gradsAt)).toBe(4 * 78);
  });

  test("leaks nothing", async () => {
    await expectNoLeaks({
      make: () =>
        sst({
          learningRate: 0.05,
          rank: 2,
          iterationSteps: 2,
          roundIterations: 2,
          enhancedGradient: false,
        }),
      params: start,
      grads: gradsAt,
      steps: 10,
      warmup: 1,
    });
  });
});

test("bad options name the option and the accepted values", () => {
  expect(() => sst({ rank: 0 })).toThrow(/rank must be an integer ≥ 1/);
  expect(() => sst({ iterationSteps: 1.5 })).toThrow(/iterationSteps must be an integer ≥ 1/);
  expect(() => sst({ uniformMix: 2 })).toThrow(/uniformMix must be in \[0, 1\]/);
  expect(() => sst({ enhancedGradient: "yes" } as any)).toThrow(
    /enhancedGradient must be true or false/,
  );
  expect(() => sst({ rnak: 2 } as any)).toThrow(/unknown option "rnak".*accepted/);
  const opt = sst();
  const state = opt.init(start());
  expect(() => opt.update(gradsAt(0), state)).toThrow(/sst needs params/);
  tree.dispose(state);
});
