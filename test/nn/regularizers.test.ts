/**
 * Regularisers and reparameterisations against closed forms: weight normalisation's split and
 * its gradients (Salimans & Kingma 2016, eq. 3) through autodiff; norm loss's value and its
 * gradient transformation against autodiff of the loss; spectral regularisation's added
 * gradient 2λ(σ₁ − τ)u₁v₁ᵀ against the exact SVD, with τ the initial σ₁ or a given target.
 */
import { grad, numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { svd } from "../../src/linalg/svd.js";
import { addNormLossGradient, normLoss } from "../../src/nn/regularizers/norm-loss.js";
import { spectralRegularization } from "../../src/nn/regularizers/spectral.js";
import { weightNormApply, weightNormSplit } from "../../src/nn/regularizers/weight-norm.js";
import { read, setup } from "../helpers/engine.js";

beforeAll(setup);

const W = [
  [0.5, -1.0, 2.0],
  [1.5, 0.25, -0.75],
];
const C = [
  [1, 2, -1],
  [0.5, -3, 2],
];
const matrix = (rows: number[][]) => np.array(rows);
const expectClose = (got: ArrayLike<number>, want: ArrayLike<number>, digits = 5) => {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i], digits);
};

describe("weight normalisation", () => {
  test("the split reproduces w; g is the row norm", () => {
    const { g, v } = weightNormSplit(matrix(W));
    expectClose(
      read(g.ref),
      W.map((r) => Math.hypot(...r)),
    );
    expectClose(read(weightNormApply({ g, v })), W.flat());
  });

  test("gradients are the paper's eq. 3: ∇g = ∇w·v/‖v‖, ∇v = (g/‖v‖)∇w − (g∇g/‖v‖²)v", () => {
    // L(w) = Σ C ⊙ w, so ∇w L = C. Take g ≠ ‖v‖ so that the scale matters.
    const gRows = [2, 0.5];
    const loss = (g: np.Array, v: np.Array) => weightNormApply({ g, v }).mul(matrix(C)).sum();
    const gradG = grad((g: np.Array) => loss(g, matrix(W)))(np.array([[2], [0.5]]));
    const gradV = grad((v: np.Array) => loss(np.array([[2], [0.5]]), v))(matrix(W));
    const wantG: number[] = [];
    const wantV: number[] = [];
    W.forEach((row, i) => {
      const n = Math.hypot(...row);
      const dg = row.reduce((s, x, j) => s + x * C[i][j], 0) / n;
      wantG.push(dg);
      row.forEach((x, j) => {
        wantV.push((gRows[i] / n) * C[i][j] - ((gRows[i] * dg) / n ** 2) * x);
      });
    });
    expectClose(read(gradG), wantG);
    expectClose(read(gradV), wantV);
  });

  test("a vector is one weight vector; 3-D tensors are refused", () => {
    const { g, v } = weightNormSplit(np.array([3, 4]));
    expect(read(g)[0]).toBeCloseTo(5, 6);
    v.dispose();
    expect(() => weightNormSplit(np.zeros([2, 2, 2]))).toThrow(/1-D or 2-D/);
  });
});

describe("norm loss", () => {
  test("value λ·Σ(1 − ‖w_i‖)² over matrix rows; vectors are left out", () => {
    // Rows of norm 2 and 0.5: (1 − 2)² + (1 − 0.5)² = 1.25.
    const params = {
      w: np.array([
        [0, 2],
        [0.3, 0.4],
      ]),
      b: np.array([10, 10]),
    };
    expect(read(normLoss(params, 0.1))[0]).toBeCloseTo(0.125, 6);
    tree.dispose(params);
  });

  test("the gradient transformation adds exactly ∇ of the loss (autodiff), nothing on vectors", () => {
    const lambda = 0.3;
    const params = { w: matrix(W), b: np.array([1, -2]) };
    const want = grad((p: typeof params) => normLoss(p, lambda))(tree.ref(params));
    const t = addNormLossGradient(lambda);
    const state = t.init(tree.ref(params));
    const updates = { w: matrix(C), b: np.array([0.5, 0.5]) };
    const [out] = t.update(updates, state, params) as [typeof params, unknown];
    expectClose(
      read(out.w),
      Array.from(read(want.w)).map((x, i) => x + C.flat()[i]),
    );
    expect(Array.from(read(out.b))).toEqual([0.5, 0.5]);
    // Closed form on row 0: 2λ(‖w‖ − 1)·w/‖w‖.
    const n = Math.hypot(...W[0]);
    expect(read(want.w)[0]).toBeCloseTo(((2 * lambda * (n - 1)) / n) * W[0][0], 5);
    tree.dispose([out, want]);
    expect(() => addNormLossGradient(-1)).toThrow(/lambda/);
  });
});

describe("spectral regularisation", () => {
  /** 2λ(σ₁ − τ)·u₁v₁ᵀ from the exact SVD (the product is sign-free). */
  function exactPull(rows: number[][], lambda: number, tau: number) {
    const r = svd(matrix(rows).astype(np.float64));
    const s = read(r.s);
    const u = read(r.u);
    const vt = read(r.vt);
    const [m, n] = [rows.length, rows[0].length];
    const k = s.length;
    r.u.dispose();
    r.s.dispose();
    r.vt.dispose();
    const out: number[] = [];
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) out.push(2 * lambda * (s[0] - tau) * u[i * k] * vt[j]);
    return { out, sigma: s[0] };
  }

  test("τ = initial σ₁: no pull at init; after W moves, 2λ(σ₁ − τ)u₁v₁ᵀ (exact SVD)", () => {
    const lambda = 0.5;
    const reg = spectralRegularization({ lambda, iterations: 40 });
    let state: any = reg.init({ w: matrix(W), b: np.zeros([2]) });
    const sigma0 = exactPull(W, lambda, 0).sigma;
    expect(read(state.target.w)[0]).toBeCloseTo(sigma0, 4);
    // Unchanged weights: the gradient passes through.
    let out: any;
    [out, state] = reg.update({ w: matrix(C), b: np.ones([2]) }, state, {
      w: matrix(W),
      b: np.zeros([2]),
    });
    expectClose(read(out.w), C.flat(), 4);
    expect(Array.from(read(out.b))).toEqual([1, 1]);
    tree.dispose(out);
    // Scaled weights: σ₁ grows by 1.5×.
    const grown = W.map((r) => r.map((x) => 1.5 * x));
    [out, state] = reg.update({ w: np.zeros([2, 3]), b: np.zeros([2]) }, state, {
      w: matrix(grown),
      b: np.zeros([2]),
    });
    expectClose(read(out.w), exactPull(grown, lambda, sigma0).out, 4);
    tree.dispose([out, state]);
  });

  test("a fixed target (the paper's τ = 1) and the state's structure", () => {
    const reg = spectralRegularization({ lambda: 0.1, target: 1, iterations: 40 });
    const state: any = reg.init({ w: matrix(C), b: np.zeros([2]) });
    expect(state.v.w.shape).toEqual([3, 1]);
    expect(state.v.b.shape).toEqual([]);
    expect(tree.stateBytes(state)).toBe((3 + 1 + 1 + 1) * 4);
    const [out, next] = reg.update({ w: np.zeros([2, 3]), b: np.zeros([2]) }, state, {
      w: matrix(C),
      b: np.zeros([2]),
    }) as [any, unknown];
    expectClose(read(out.w), exactPull(C, 0.1, 1).out, 4);
    tree.dispose([out, next]);
    expect(() => spectralRegularization({ lambda: -1 })).toThrow(/lambda/);
    expect(() => spectralRegularization({ lambda: 1, iterations: 0 })).toThrow(/iterations/);
  });
});
