/**
 * Gradient estimators (issue 17): forward gradients (Baydin et al. 2022) are unbiased and their
 * variance is the closed form (n + 1)‖∇f‖²/k; the guided forward gradient (Fournier et al. 2023)
 * is the projection of ∇f on the guess; the randomized-matmul linear layer (Bershatsky et al.
 * 2022) gives the exact input gradient and an unbiased weight gradient whose variance is
 * (‖G‖² + ‖δ‖²‖x‖²)/k. References: closed-form gradients computed on the host.
 */
import { grad, jit, numpy as np, random } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { randomizedLinear } from "../../src/nn/randomized-linear.js";
import {
  forwardGradient,
  guidedForwardGradient,
} from "../../src/optim/estimators/forward-gradient.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";

beforeAll(setup);

// f(w, c) = Σ t_i sin(w_i) + ½ Σ c_j²  ⇒  ∇_w = t·cos(w), ∇_c = c (n = 8 parameters).
const t = [1, -2, 0.5, 3, -1];
const w0 = [0.3, -1.2, 2.0, 0.7, -0.4];
const c0 = [1.5, -0.5, 0.25];
const f = (p: any) =>
  np
    .sin(p.w.ref)
    .mul(np.array(Float32Array.from(t)))
    .sum()
    .add(p.c.ref.mul(p.c.ref).sum().mul(0.5));
const params = () => ({ w: np.array(Float32Array.from(w0)), c: np.array(Float32Array.from(c0)) });
const exact = [...w0.map((w, i) => t[i] * Math.cos(w)), ...c0];
const norm2 = exact.reduce((s, x) => s + x * x, 0);
/** The estimate's values (consumes g). */
const flat = (g: any) => {
  const out = [...read(g.w), ...read(g.c)];
  tree.dispose(g);
  return out;
};

describe("forward gradient", () => {
  test("unbiased, with variance (n + 1)‖∇f‖²/k; the loss is f(p)", async () => {
    const before = await liveBuffers();
    const p = params();
    const draws = 1500;
    const k = 2;
    // Compiled once (jvp composes with jit); the key is an argument.
    const estimate = jit((q: any, key: np.Array) => {
      const out = forwardGradient(f, q, key, k);
      tree.dispose(q);
      return out;
    });
    const mean = new Float64Array(8);
    let spread = 0;
    for (let d = 0; d < draws; d++) {
      const [loss, g] = estimate(tree.ref(p), random.key(d)) as unknown as [np.Array, any];
      if (d === 0) {
        const expected =
          t.reduce((s, ti, i) => s + ti * Math.sin(w0[i]), 0) +
          0.5 * c0.reduce((s, x) => s + x * x, 0);
        expect(loss.dataSync()[0]).toBeCloseTo(expected, 5);
      } else loss.dispose();
      const v = flat(g);
      v.forEach((x, j) => {
        mean[j] += x / draws;
      });
      spread += v.reduce((s, x, j) => s + (x - exact[j]) ** 2, 0) / draws;
    }
    // Per coordinate Var(g_j) = (‖a‖² + a_j²)/k; five standard errors.
    exact.forEach((a, j) => {
      expect(Math.abs(mean[j] - a)).toBeLessThan(5 * Math.sqrt((norm2 + a * a) / k / draws));
    });
    const predicted = ((8 + 1) * norm2) / k;
    expect(spread).toBeGreaterThan(0.8 * predicted);
    expect(spread).toBeLessThan(1.2 * predicted);
    tree.dispose(p);
    estimate.dispose(); // the compiled program holds its constants (t)
    expect(await liveBuffers()).toBe(before);
  });

  test("guided by a guess: the projection of ∇f on it, exact when the guess is ∇f", () => {
    const p = params();
    const guess = exact.map((a, j) => a + (j % 3 === 0 ? 1 : -0.5));
    const u = {
      w: np.array(Float32Array.from(guess.slice(0, 5))),
      c: np.array(Float32Array.from(guess.slice(5))),
    };
    const [loss, g] = guidedForwardGradient(f, p, u);
    loss.dispose();
    const coef =
      exact.reduce((s, a, j) => s + a * guess[j], 0) / guess.reduce((s, x) => s + x * x, 0);
    flat(g).forEach((x, j) => {
      expect(x).toBeCloseTo(coef * guess[j], 4);
    });
    const [l2, same] = guidedForwardGradient(f, p, {
      w: np.array(Float32Array.from(exact.slice(0, 5))),
      c: np.array(Float32Array.from(exact.slice(5))),
    });
    l2.dispose();
    flat(same).forEach((x, j) => {
      expect(x).toBeCloseTo(exact[j], 4);
    });
    tree.dispose(p);
  });

  test("directions must be a positive integer", () => {
    const p = params();
    expect(() => forwardGradient(f, p, random.key(0), 0)).toThrow(
      /directions must be an integer ≥ 1/,
    );
    tree.dispose(p);
  });
});

describe("randomized-matmul linear layer", () => {
  // L = Σ R ⊙ (x Wᵀ)  ⇒  δ = R, ∇W = Rᵀ x, ∇x = R W.
  const N = 6;
  const dIn = 4;
  const dOut = 3;
  const xs = Float32Array.from({ length: N * dIn }, (_, i) => Math.sin(0.7 * i + 1));
  const ws = Float32Array.from({ length: dOut * dIn }, (_, i) => Math.cos(0.3 * i));
  const rs = Float32Array.from({ length: N * dOut }, (_, i) => Math.sin(1.1 * i) + 0.2);
  const at = (a: Float32Array, cols: number, i: number, j: number) => a[i * cols + j];
  const gw = Array.from({ length: dOut * dIn }, (_, q) => {
    const [o, i] = [Math.floor(q / dIn), q % dIn];
    let s = 0;
    for (let n = 0; n < N; n++) s += at(rs, dOut, n, o) * at(xs, dIn, n, i);
    return s;
  });
  const gx = Array.from({ length: N * dIn }, (_, q) => {
    const [n, i] = [Math.floor(q / dIn), q % dIn];
    let s = 0;
    for (let o = 0; o < dOut; o++) s += at(rs, dOut, n, o) * at(ws, dIn, o, i);
    return s;
  });
  const sq = (a: ArrayLike<number>) => Array.from(a).reduce((s, x) => s + x * x, 0);

  const k = 2;
  // Compiled once: the key is an argument, so every draw reuses the program.
  const gradsOf = jit((x: np.Array, w: np.Array, key: np.Array) =>
    grad(
      (xx: np.Array, ww: np.Array) =>
        randomizedLinear(xx, ww, key, k)
          .mul(np.array(rs, { shape: [N, dOut] }))
          .sum(),
      { argnums: [0, 1] },
    )(x, w),
  );
  const grads = (seed: number) =>
    gradsOf(
      np.array(xs, { shape: [N, dIn] }),
      np.array(ws, { shape: [dOut, dIn] }),
      random.key(seed),
    ) as unknown as np.Array[];

  test("value is x Wᵀ; input gradient exact; weight gradient unbiased within the variance bound", () => {
    const y = randomizedLinear(
      np.array(xs, { shape: [2, 3, dIn] }),
      np.array(ws, { shape: [dOut, dIn] }),
      random.key(1),
      2,
    );
    expect(y.shape).toEqual([2, 3, dOut]);
    const yv = read(y);
    for (let n = 0; n < N; n++)
      for (let o = 0; o < dOut; o++) {
        let s = 0;
        for (let i = 0; i < dIn; i++) s += at(xs, dIn, n, i) * at(ws, dIn, o, i);
        expect(yv[n * dOut + o]).toBeCloseTo(s, 5);
      }
    const draws = 800;
    const mean = new Float64Array(gw.length);
    let spread = 0;
    for (let d = 0; d < draws; d++) {
      const [dx, dw] = grads(d);
      read(dx).forEach((v, q) => {
        expect(v).toBeCloseTo(gx[q], 4);
      });
      const v = read(dw);
      v.forEach((x, q) => {
        mean[q] += x / draws;
        spread += (x - gw[q]) ** 2 / draws;
      });
    }
    const predicted = (sq(gw) + sq(rs) * sq(xs)) / k;
    // Each entry's variance is at most the total; five standard errors.
    gw.forEach((g, q) => {
      expect(Math.abs(mean[q] - g)).toBeLessThan(5 * Math.sqrt(predicted / draws));
    });
    expect(spread).toBeGreaterThan(0.8 * predicted);
    expect(spread).toBeLessThan(1.2 * predicted);
  });
});
