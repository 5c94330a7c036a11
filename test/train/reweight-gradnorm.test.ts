/**
 * GradNorm's update against a case worked by hand from the paper's equations, against autodiff
 * of L_grad with respect to the weights, and its array helpers against host arithmetic.
 */
import { grad, numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import {
  gradNormInit,
  gradNormStep,
  sharedGradNorms,
  weightedGrads,
} from "../../src/train/gradnorm.js";
import { read, setup } from "../helpers/engine.js";

beforeAll(setup);

describe("gradNormStep", () => {
  test("two tasks, worked by hand (α = 1, λ = 0.1)", () => {
    // L(0) = [2, 1], L(t) = [1, 0.8] → L̃ = [0.5, 0.8], mean 0.65, r = [10/13, 16/13].
    // g = [3, 1], w = [1, 1] → G = [3, 1], Ḡ = 2, targets Ḡ·r = [20/13, 32/13].
    // L_grad = |3 − 20/13| + |1 − 32/13| = 19/13 + 19/13 = 38/13.
    // ∂/∂w = sign(G − target)·g = [3, −1] → w = [0.7, 1.1] → ×2/1.8 = [7/9, 11/9].
    const state = { weights: [1, 1], initialLosses: [2, 1], step: 4 };
    const out = gradNormStep(state, [1, 0.8], [3, 1], { alpha: 1, learningRate: 0.1 });
    expect(out.targets[0]).toBeCloseTo(20 / 13, 12);
    expect(out.targets[1]).toBeCloseTo(32 / 13, 12);
    expect(out.gradLoss).toBeCloseTo(38 / 13, 12);
    expect(out.weightGrads).toEqual([3, -1]);
    expect(out.state.weights[0]).toBeCloseTo(7 / 9, 12);
    expect(out.state.weights[1]).toBeCloseTo(11 / 9, 12);
    expect(out.state.step).toBe(5);
    expect(out.state.initialLosses).toEqual([2, 1]);
  });

  test("α scales the pull: with α = 2 the lagging task's target is r² Ḡ", () => {
    const state = { weights: [1, 1], initialLosses: [2, 1], step: 1 };
    const out = gradNormStep(state, [1, 0.8], [3, 1], { alpha: 2, learningRate: 0.1 });
    expect(out.targets[0]).toBeCloseTo(2 * (10 / 13) ** 2, 12);
    expect(out.targets[1]).toBeCloseTo(2 * (16 / 13) ** 2, 12);
  });

  test("the weight gradient is autodiff's ∂L_grad/∂w with the targets held constant", () => {
    const state = { weights: [0.5, 1.7, 0.8], initialLosses: [2.3, 0.9, 1.4], step: 3 };
    const losses = [1.1, 0.85, 0.6];
    const norms = [0.4, 2.5, 1.2];
    const out = gradNormStep(state, losses, norms, { alpha: 0.7, learningRate: 0.05 });
    const g = np.array(new Float32Array(norms));
    const t = np.array(new Float32Array(out.targets));
    const dw = grad((w: np.Array) => np.abs(w.mul(g).sub(t)).sum())(
      np.array(new Float32Array(state.weights)),
    );
    const got = read(dw);
    for (const [i, v] of out.weightGrads.entries()) expect(got[i]).toBeCloseTo(v, 5);
    // The targets' mean term: Ḡ over the weighted norms.
    const gBar = (0.5 * 0.4 + 1.7 * 2.5 + 0.8 * 1.2) / 3;
    const rel = losses.map((l, i) => l / state.initialLosses[i]);
    const m = rel.reduce((a, b) => a + b, 0) / 3;
    for (const [i, r] of rel.entries()) {
      expect(out.targets[i]).toBeCloseTo(gBar * (r / m) ** 0.7, 12);
    }
    expect(out.state.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(3, 12);
  });

  test("the first step records L(0): every r_i = 1, targets = Ḡ", () => {
    const out = gradNormStep(gradNormInit(2), [2.3, 0.7], [1, 3], { alpha: 3 });
    expect(out.state.initialLosses).toEqual([2.3, 0.7]);
    expect(out.targets).toEqual([2, 2]);
  });

  test("bad input is refused with the accepted values", () => {
    expect(() => gradNormInit(1)).toThrow(/number of tasks ≥ 2, got 1/);
    const s = gradNormInit(2);
    expect(() => gradNormStep(s, [1], [1, 1])).toThrow(/2 tasks; got 1 losses/);
    expect(() => gradNormStep(s, [1, 0], [1, 1])).toThrow(/losses must be finite and > 0/);
    expect(() => gradNormStep(s, [1, 1], [1, 1], { alpha: -1 })).toThrow(/alpha must be/);
    expect(() => gradNormStep(s, [1, 1], [1, 1], { learningRate: 0 })).toThrow(/learningRate/);
  });
});

describe("array helpers", () => {
  const a = () => ({
    w: np.array(new Float32Array([1, 2, 2])),
    head: np.array(new Float32Array([5])),
  });
  const b = () => ({ w: np.array(new Float32Array([0, 3, 4])) });

  test("sharedGradNorms: the norm over the shared leaves only; borrows", async () => {
    const ga = a();
    const gb = b();
    expect(await sharedGradNorms([ga, gb], ["w"])).toEqual([3, 5]);
    expect(read(ga.head)[0]).toBe(5); // still alive
    tree.dispose([ga, gb]);
  });

  test("weightedGrads: Σ w_i ∇L_i, a missing leaf counting as zero", () => {
    const out = weightedGrads([a(), b()], [0.5, 2]);
    expect(Array.from(read(out.w))).toEqual([0.5, 7, 9]);
    expect(Array.from(read(out.head))).toEqual([2.5]);
    tree.dispose(out);
  });
});
