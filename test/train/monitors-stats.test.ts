/**
 * The matrix monitors against exact SVDs (src/linalg's one-sided Jacobi/Golub–Kahan SVD) on small
 * matrices: power iteration's σ₁ and v₁, its warm start, stable rank ‖W‖²_F/σ₁², the spectral
 * alignment u₁ᵀΔWv₁/‖ΔW‖ (and that it predicts the first-order change of σ₁), cos(G, W), and the
 * rows the trainer writes (fields per monitor group, the warning, bad input).
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { Xoshiro128 } from "../../src/engine/rng.js";
import { startVector, topSingular } from "../../src/linalg/power-iteration.js";
import { svd } from "../../src/linalg/svd.js";
import { matrixStats } from "../../src/train/monitors/matrix-stats.js";
import { parseMonitorKinds, TrainingMonitors } from "../../src/train/monitors/training-monitors.js";
import { read, setup } from "../helpers/engine.js";

beforeAll(setup);

/** The monitors' start vector as an n×1 device array. */
const start = (n: number, i: number) => np.array(startVector(n, i), { shape: [n, 1] });

/** A seeded m×n matrix with entries uniform in [−0.5, 0.5) (host values and a device array). */
function randomMatrix(m: number, n: number, seed: number): { host: Float64Array; a: np.Array } {
  const rng = Xoshiro128.fromSeed(seed);
  const host = Float64Array.from({ length: m * n }, () => rng.nextUint32() / 2 ** 32 - 0.5);
  return { host, a: np.array(Float32Array.from(host), { shape: [m, n] }) };
}

/** Exact singular values and top pair (u₁, v₁) on the host. */
function exact(a: np.Array) {
  const [m, n] = a.shape;
  const r = svd(a.astype(np.float64));
  const s = read(r.s);
  const u = read(r.u);
  const vt = read(r.vt);
  r.u.dispose();
  r.s.dispose();
  r.vt.dispose();
  const k = s.length;
  const u1 = Float64Array.from({ length: m }, (_, i) => u[i * k]);
  const v1 = Float64Array.from({ length: n }, (_, j) => vt[j]);
  return { s, u1, v1 };
}

const dot = (x: ArrayLike<number>, y: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * y[i];
  return s;
};

describe("power iteration", () => {
  test("σ₁ and ±v₁ of 6×4, 5×9 and 12×12 matrices match the exact SVD", () => {
    for (const [m, n, seed] of [
      [6, 4, 1],
      [5, 9, 2],
      [12, 12, 3],
    ]) {
      const { a } = randomMatrix(m, n, seed);
      const want = exact(a.ref);
      const { sigma, u, v } = topSingular(a, start(n, 0), 60);
      expect(read(sigma)[0]).toBeCloseTo(want.s[0], 4);
      expect(Math.abs(dot(read(v), want.v1))).toBeCloseTo(1, 4);
      expect(Math.abs(dot(read(u), want.u1))).toBeCloseTo(1, 4);
      sigma.dispose();
      u.dispose();
      v.dispose();
    }
  });

  test("warm-started, a few iterations per call converge; the estimate never exceeds σ₁", () => {
    const { a } = randomMatrix(10, 8, 7);
    const want = exact(a.ref).s[0];
    let v = start(8, 3);
    const seen: number[] = [];
    for (let call = 0; call < 30; call++) {
      const r = topSingular(a.ref, v, 2);
      seen.push(read(r.sigma)[0]);
      r.sigma.dispose();
      r.u.dispose();
      v = r.v;
    }
    for (const s of seen) expect(s).toBeLessThanOrEqual(want * (1 + 1e-6));
    expect(seen.at(-1)).toBeCloseTo(want, 4);
    v.dispose();
    a.dispose();
  });

  test("a zero matrix gives σ = 0, not NaN", () => {
    const { sigma, u, v } = topSingular(np.zeros([3, 4]), start(4, 0), 3);
    expect(read(sigma)[0]).toBe(0);
    expect(read(v).every(Number.isFinite)).toBe(true);
    for (const x of [sigma, u, v]) x.dispose();
  });
});

describe("matrixStats", () => {
  test("stable rank, spectral alignment and cos(G, W) against the exact SVD", async () => {
    const w = randomMatrix(7, 5, 11);
    const g = randomMatrix(7, 5, 12);
    const d = randomMatrix(7, 5, 13);
    const want = exact(w.a.ref);
    const { stats, vectors } = await matrixStats([w.a.ref], [g.a], [d.a], [startVector(5, 0)], 60);
    // The warm-start vector handed back is ±v₁.
    expect(Math.abs(dot(vectors[0], want.v1))).toBeCloseTo(1, 4);
    const s = stats[0];
    const fro2 = dot(w.host, w.host);
    expect(s.sigma).toBeCloseTo(want.s[0], 4);
    expect(fro2).toBeCloseTo(dot(want.s, want.s), 5);
    expect(s.stableRank).toBeCloseTo(fro2 / want.s[0] ** 2, 4);
    // u₁ᵀ D v₁ / ‖D‖ from the exact pair (sign-free: u₁ and v₁ flip together).
    let along = 0;
    for (let i = 0; i < 7; i++)
      for (let j = 0; j < 5; j++) along += want.u1[i] * d.host[i * 5 + j] * want.v1[j];
    expect(s.spectralAlignment).toBeCloseTo(along / Math.sqrt(dot(d.host, d.host)), 4);
    expect(s.gradWeightCos).toBeCloseTo(
      dot(g.host, w.host) / Math.sqrt(dot(g.host, g.host) * fro2),
      5,
    );
    expect(s.gradNorm).toBeCloseTo(Math.sqrt(dot(g.host, g.host)), 5);
    expect(s.weightNorm).toBeCloseTo(Math.sqrt(fro2), 5);
    w.a.dispose();
  });

  test("the alignment predicts σ₁'s first-order change; a = 1 for ΔW = u₁v₁ᵀ", async () => {
    const w = randomMatrix(6, 6, 21);
    const d = randomMatrix(6, 6, 22);
    const want = exact(w.a.ref);
    const { stats, vectors } = await matrixStats(
      [w.a.ref, w.a.ref],
      [d.a.ref, d.a.ref],
      [
        d.a.ref,
        np.array(
          Float32Array.from({ length: 36 }, (_, k) => want.u1[Math.floor(k / 6)] * want.v1[k % 6]),
          { shape: [6, 6] },
        ),
      ],
      [startVector(6, 0), startVector(6, 1)],
      60,
    );
    expect(vectors.map((v) => v.length)).toEqual([6, 6]);
    const eps = 1e-3;
    const moved = exact(w.a.ref.add(d.a.ref.mul(eps))).s[0];
    const dNorm = Math.sqrt(dot(d.host, d.host));
    // σ₁(W + εD) − σ₁(W) ≈ ε·a·‖D‖, to O(ε²).
    expect((moved - want.s[0]) / eps).toBeCloseTo(stats[0].spectralAlignment * dNorm, 2);
    expect(stats[1].spectralAlignment).toBeCloseTo(1, 4);
    w.a.dispose();
    d.a.dispose();
  });
});

describe("TrainingMonitors", () => {
  const tree = () => {
    const w = randomMatrix(6, 4, 31);
    return { w: w.a, b: np.array([3, 4]) };
  };

  test("rows carry the chosen groups, per-tensor gradient norms, and warn on aligned steps", async () => {
    const params = tree();
    const want = exact(params.w.ref);
    const grads = { w: np.ones([6, 4]), b: np.array([0, 2]) };
    const rankOne = np.array(
      Float32Array.from({ length: 24 }, (_, k) => want.u1[Math.floor(k / 4)] * want.v1[k % 4]),
      { shape: [6, 4] },
    );
    const updates = { w: rankOne.ref.mul(0.01), b: np.zeros([2]) };
    const m = new TrainingMonitors({ kinds: ["spectral", "rank"], firstIterations: 60, warmup: 4 });
    const { row, warning } = await m.observe(5, params, grads, updates);
    expect(row.step).toBe(5);
    expect(row.gradNorms).toEqual({ b: 2, w: expect.closeTo(Math.sqrt(24), 5) });
    expect(row.sigmaMax).toBeCloseTo(want.s[0], 4);
    expect(row.stableRankMin).toBeCloseTo(dot(want.s, want.s) / want.s[0] ** 2, 3);
    expect(row.saMax).toBeCloseTo(1, 3);
    expect(row.saPositive).toBe(1);
    expect(row.gradWeightCos).toBeUndefined();
    expect(warning).toMatchObject({
      type: "sa-warning",
      step: 5,
      matrix: "w",
      threshold: 0.5,
      saPositive: 1,
    });
    // A random update is far from the top pair: no warning.
    const other = await m.observe(6, params, grads, {
      w: randomMatrix(6, 4, 99).a,
      b: np.zeros([2]),
    });
    expect(Math.abs(other.row.saMax ?? 1)).toBeLessThan(0.5);
    expect(other.warning).toBeUndefined();
    // Within the warm-up an aligned step is recorded but not warned about.
    const early = await m.observe(4, params, grads, {
      w: rankOne.ref.mul(0.01),
      b: np.zeros([2]),
    });
    expect(early.row.saMax).toBeGreaterThan(0.5);
    expect(early.warning).toBeUndefined();
    // Sign diversity kept: the same matrix twice, the step inflating σ₁ in one and shrinking it in
    // the other (a = +1, −1): half the matrices positive < 0.7, no warning despite max a = 1.
    const two = { w: params.w.ref, v: params.w.ref, b: np.array([3, 4]) };
    const both = await m.observe(
      8,
      two,
      { w: np.ones([6, 4]), v: np.ones([6, 4]), b: np.zeros([2]) },
      { w: rankOne.ref.mul(0.01), v: rankOne.mul(-0.01), b: np.zeros([2]) },
    );
    expect(both.row.saMax).toBeCloseTo(1, 3);
    expect(both.row.saPositive).toBe(0.5);
    expect(both.warning).toBeUndefined();
  });

  test("--monitors parsing: a list, none, and one line naming the accepted values", () => {
    expect(parseMonitorKinds("spectral,alignment,rank")).toEqual(["spectral", "alignment", "rank"]);
    expect(parseMonitorKinds("none")).toEqual([]);
    expect(parseMonitorKinds("")).toEqual([]);
    expect(() => parseMonitorKinds("spectral,svd")).toThrow(
      '--monitors must be a comma-separated list of spectral, alignment, rank (or none); got "svd"',
    );
  });
});
