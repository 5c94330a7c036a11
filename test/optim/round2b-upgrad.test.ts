/**
 * Jacobian descent's UPGrad aggregator (issue 17): the hand-solved two-objective case, the mean
 * when nothing conflicts, no conflict with any objective (g_i·d ≥ 0) on random Jacobians, and the
 * QP solver against an independent active-set enumeration (KKT conditions).
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import {
  boundedQuadraticMin,
  upgrad,
  upgradWeights,
} from "../../src/optim/multi-objective/upgrad.js";
import { read, setup } from "../helpers/engine.js";

beforeAll(setup);

const vec = (x: number[]) => ({ p: np.array(Float32Array.from(x)) });
const run = (gs: number[][], regEps = 0) =>
  Array.from(read((upgrad(gs.map(vec), { regEps }) as any).p));

test("two conflicting objectives: the hand-solved direction", () => {
  // g1 = (1, 0), g2 = (−1, 1): g1/2 projected off g2 is (½)(g1 − (g1·g2/‖g2‖²) g2) = (¼, ¼), g2/2
  // projected off g1 is (0, ½); d = (¼, ¾), with g1·d = ¼ and g2·d = ½.
  const d = run([
    [1, 0],
    [-1, 1],
  ]);
  expect(d[0]).toBeCloseTo(0.25, 6);
  expect(d[1]).toBeCloseTo(0.75, 6);
});

test("objectives that do not conflict: the mean gradient", () => {
  const d = run([
    [1, 0.2],
    [0.5, 1],
  ]);
  expect(d[0]).toBeCloseTo(0.75, 6);
  expect(d[1]).toBeCloseTo(0.6, 6);
});

describe("random Jacobians", () => {
  let seed = 1;
  const rand = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647 - 0.5;
  };
  test.each([
    [3, 8],
    [5, 8],
    [6, 3],
  ])("%i objectives in %i dimensions: no objective gets worse", (m, n) => {
    for (let trial = 0; trial < 10; trial++) {
      const gs = Array.from({ length: m }, () => Array.from({ length: n }, rand));
      const exact = m <= n ? run(gs, 0) : []; // m > n: G is singular without the ridge
      const regular = run(gs);
      const norm = (x: number[]) => Math.sqrt(x.reduce((s, y) => s + y * y, 0));
      const dotp = (a: number[], b: number[]) => a.reduce((s, x, j) => s + x * b[j], 0);
      // With the ridge ε on G/tr G the KKT conditions give g_i·d ≥ −ε·tr(G)·w_i (exact: ≥ 0).
      const gram = gs.flatMap((a) => gs.map((b) => dotp(a, b)));
      const trace = gs.reduce((s, g) => s + dotp(g, g), 0);
      const w = upgradWeights(gram, m);
      gs.forEach((g, i) => {
        if (m <= n) expect(dotp(g, exact) / (norm(g) * norm(exact) + 1e-12)).toBeGreaterThan(-1e-5);
        expect(dotp(g, regular)).toBeGreaterThan(-1e-4 * trace * w[i] * 1.01 - 1e-6);
      });
    }
  });
});

test("the QP solver meets an active-set enumeration (KKT) on random positive definite G", () => {
  let seed = 7;
  const rand = () => {
    seed = (seed * 48271) % 2147483647;
    return seed / 2147483647 - 0.5;
  };
  for (let trial = 0; trial < 20; trial++) {
    const m = 4;
    const a = Array.from({ length: m * m }, rand);
    const g = new Float64Array(m * m);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < m; j++) {
        let s = i === j ? 0.1 : 0;
        for (let k = 0; k < m; k++) s += a[i * m + k] * a[j * m + k];
        g[i * m + j] = s;
      }
    const lower = Float64Array.from({ length: m }, () => Math.max(0, rand()));
    const v = boundedQuadraticMin(g, m, lower);
    // Enumerate the free sets: v_F solves G_FF v_F = −G_FB l_B; the KKT point has v_F ≥ l_F and
    // (G v)_B ≥ 0 (the bound's multipliers).
    let best: number[] | null = null;
    for (let mask = 0; mask < 1 << m; mask++) {
      const free = [...Array(m).keys()].filter((i) => mask & (1 << i));
      const x = Array.from(lower);
      if (free.length > 0) {
        // Solve the small system by Gaussian elimination.
        const k = free.length;
        const A = free.map((i) => free.map((j) => g[i * m + j]));
        const b = free.map(
          (i) =>
            -[...Array(m).keys()]
              .filter((j) => !free.includes(j))
              .reduce((s, j) => s + g[i * m + j] * lower[j], 0),
        );
        for (let c = 0; c < k; c++)
          for (let r = c + 1; r < k; r++) {
            const f = A[r][c] / A[c][c];
            for (let q = c; q < k; q++) A[r][q] -= f * A[c][q];
            b[r] -= f * b[c];
          }
        const sol = new Array(k).fill(0);
        for (let r = k - 1; r >= 0; r--) {
          let s = b[r];
          for (let q = r + 1; q < k; q++) s -= A[r][q] * sol[q];
          sol[r] = s / A[r][r];
        }
        free.forEach((i, t) => {
          x[i] = sol[t];
        });
      }
      const gx = x.map((_, i) => x.reduce((s, xj, j) => s + g[i * m + j] * xj, 0));
      const feasible = x.every((xi, i) => xi >= lower[i] - 1e-12);
      const kkt = gx.every((gi, i) => free.includes(i) || gi >= -1e-12);
      if (feasible && kkt) best = x;
    }
    expect(best).not.toBeNull();
    best!.forEach((x, i) => {
      expect(v[i]).toBeCloseTo(x, 8);
    });
  }
});

test("weights are zero for a vanishing Gramian; an empty list is refused", () => {
  expect(Array.from(upgradWeights([0, 0, 0, 0], 2))).toEqual([0, 0]);
  expect(() => upgrad([])).toThrow(/at least one gradient/);
});
