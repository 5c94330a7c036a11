/**
 * The seeds' merge methods (iso_c, iso_cts, orthogonal_continual, fisher, uncertainty_gm, mats)
 * and the conjugate-gradient solver, called directly through MergeMethod.merge / scan, against
 * closed forms computed here in float64 (Jacobi eigenvalues, Gaussian elimination, Householder
 * rotations), never against the code under test; and no array is leaked.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { conjugateGradient } from "../../src/weights/merge/conjugate-gradient.js";
import type { MergeInput, MergeMethod, ParamValue } from "../../src/weights/merge/method.js";
import { fisher } from "../../src/weights/merge/methods/fisher.js";
import { isoC } from "../../src/weights/merge/methods/iso-c.js";
import { isoCts, isoSplit } from "../../src/weights/merge/methods/iso-cts.js";
import { mats, matsFisher } from "../../src/weights/merge/methods/mats.js";
import {
  orthogonalContinual,
  projectOut,
} from "../../src/weights/merge/methods/orthogonal-continual.js";
import { uncertaintyGm } from "../../src/weights/merge/methods/uncertainty-gm.js";
import { closeness, liveBuffers, read, setup } from "../helpers/engine.js";

beforeAll(setup);

// ---- host float64 helpers (the independent reference) ----

/** Seeded standard normals (mulberry32 + Box–Muller). */
function gauss(seed: number, n: number): number[] {
  let s = seed >>> 0;
  const u = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from(
    { length: n },
    () => Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u()),
  );
}

type Mat = number[][];
const mat = (flat: ArrayLike<number>, m: number, n: number): Mat =>
  Array.from({ length: m }, (_, i) => Array.from({ length: n }, (_, j) => flat[i * n + j]!));
const flat = (a: Mat) => a.flat();
const mul = (a: Mat, b: Mat): Mat =>
  a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
const tr = (a: Mat): Mat => a[0]!.map((_, j) => a.map((row) => row[j]!));
const add = (a: Mat, b: Mat, c = 1): Mat => a.map((row, i) => row.map((v, j) => v + c * b[i]![j]!));
const scale = (a: Mat, c: number): Mat => a.map((row) => row.map((v) => v * c));
const eye = (n: number): Mat =>
  Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
const frob = (a: Mat) => Math.sqrt(a.flat().reduce((s, v) => s + v * v, 0));
/** A Householder reflection I − 2vvᵀ/‖v‖²: an orthogonal matrix. */
function householder(seed: number, n: number): Mat {
  const v = gauss(seed, n);
  const vv = v.reduce((s, x) => s + x * x, 0);
  return eye(n).map((row, i) => row.map((e, j) => e - (2 * v[i]! * v[j]!) / vv));
}
/** Eigenvalues of a symmetric matrix by cyclic Jacobi rotations. */
function symmetricEigenvalues(a0: Mat): number[] {
  const a = a0.map((r) => [...r]);
  const n = a.length;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p]![q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(a[p]![q]!) < 1e-300) continue;
        const theta = (a[q]![q]! - a[p]![p]!) / (2 * a[p]![q]!);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k]![p]!;
          const akq = a[k]![q]!;
          a[k]![p] = c * akp - s * akq;
          a[k]![q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p]![k]!;
          const aqk = a[q]![k]!;
          a[p]![k] = c * apk - s * aqk;
          a[q]![k] = s * apk + c * aqk;
        }
      }
    }
  }
  return a.map((row, i) => row[i]!);
}
const singularValues = (a: Mat) =>
  symmetricEigenvalues(mul(tr(a), a)).map((e) => Math.sqrt(Math.max(e, 0)));
/** Solve A X = B by Gaussian elimination with partial pivoting. */
function solve(a0: Mat, b0: Mat): Mat {
  const n = a0.length;
  const a = a0.map((r, i) => [...r, ...b0[i]!]);
  const w = b0[0]!.length;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    [a[c], a[p]] = [a[p]!, a[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r]![c]! / a[c]![c]!;
      for (let k = c; k < n + w; k++) a[r]![k]! -= f * a[c]![k]!;
    }
  }
  return a.map((row, i) => row.slice(n).map((v) => v / a[i]![i]!));
}

// ---- calling a method ----

const arr = (m: Mat | number[]) =>
  Array.isArray(m[0])
    ? np.array(flat(m as Mat), { shape: [(m as Mat).length, (m as Mat)[0]!.length] })
    : np.array(m as number[]);

function input(
  method: MergeMethod,
  tensors: (Mat | number[])[],
  base: Mat | number[] | undefined,
  extra: Partial<MergeInput> & {
    p?: Record<string, ParamValue>;
    mp?: Record<string, ParamValue>[];
  } = {},
): MergeInput {
  const params: Record<string, ParamValue> = {};
  const modelDefaults: Record<string, ParamValue> = {};
  for (const p of method.params) {
    if (p.default === undefined) continue;
    if (p.perModel) modelDefaults[p.name] = p.default;
    else params[p.name] = p.default;
  }
  const { p, mp, ...rest } = extra;
  return {
    name: "model.layers.0.mlp.up_proj.weight",
    tensors: tensors.map(arr),
    base: base === undefined ? undefined : arr(base),
    modelParams: tensors.map((_, i) => ({ ...modelDefaults, ...(mp?.[i] ?? {}) })),
    params: { ...params, ...(p ?? {}) },
    seed: 0,
    ...rest,
  };
}

const run = (method: MergeMethod, i: MergeInput): Float64Array => {
  const out = method.merge(i);
  const values = read(out);
  out.dispose();
  return values;
};

const close = (actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5) => {
  const { ratio, index } = closeness(actual, expected, tol, tol);
  expect(
    ratio,
    `worst element ${index}: ${actual[index]} vs ${expected[index]}`,
  ).toBeLessThanOrEqual(1);
};

const randMat = (seed: number, m: number, n: number) => mat(gauss(seed, m * n), m, n);

describe("iso_c", () => {
  test("σ̄·polar(Δ): all singular values equal the mean of Δ's, and MᵀΔ symmetric (full rank)", () => {
    const base = randMat(1, 6, 4);
    const tasks = [2, 3, 4].map((s) => add(base, randMat(s, 6, 4)));
    const delta = tasks.reduce((s, t) => add(s, add(t, base, -1)), scale(base, 0));
    const sigma = singularValues(delta);
    const mean = sigma.reduce((a, b) => a + b, 0) / sigma.length;
    const alpha = 1.5;
    const out = mat(run(isoC, input(isoC, tasks, base, { p: { alpha } })), 6, 4);
    const m = scale(add(out, base, -1), 1 / alpha);
    // MᵀM = σ̄²·I: every singular value is σ̄ (and m's columns span Δ's: M = Δ·(ΔᵀΔ)^{-1/2}·σ̄).
    close(flat(mul(tr(m), m)), flat(scale(eye(4), mean * mean)), 1e-4);
    const mtd = mul(tr(m), delta);
    close(flat(mtd), flat(tr(mtd)), 1e-4);
    expect(symmetricEigenvalues(mtd).every((e) => e > 0)).toBe(true);
  });

  test("a rank-1 Δ keeps its span: the result is base + α·Δ/k", () => {
    const a = gauss(5, 5);
    const b = gauss(6, 3);
    const outer = a.map((x) => b.map((y) => x * y));
    const base = randMat(7, 5, 3);
    const coeffs = [0.5, 1.25, -0.25];
    const tasks = coeffs.map((c) => add(base, outer, c));
    const delta = scale(outer, 1.5);
    const out = run(isoC, input(isoC, tasks, base, { p: { alpha: 2 } }));
    close(out, flat(add(base, delta, 2 / 3)), 1e-5);
  });

  test("a vector: base + α·mean of the task vectors", () => {
    const base = gauss(8, 7);
    const tasks = [9, 10].map((s) => gauss(s, 7));
    const out = run(isoC, input(isoC, tasks, base, { p: { alpha: 0.5 } }));
    close(
      out,
      base.map((v, i) => v + 0.5 * ((tasks[0]![i]! - v + tasks[1]![i]! - v) / 2)),
    );
  });
});

describe("iso_cts", () => {
  test("the common/task-specific split follows the reference's rounding", () => {
    expect(isoSplit(4, 2, 0.5)).toEqual({ common: 2, perTask: 1 });
    expect(isoSplit(768, 8, 0.8)).toEqual({ common: 616, perTask: 19 });
    // round half to even, as Python: (10 − 7)/2 = 1.5 → 2 → c = 6.
    expect(isoSplit(10, 2, 0.7)).toEqual({ common: 6, perTask: 2 });
  });

  test("one task: the same as iso_c", () => {
    const base = randMat(11, 5, 4);
    const task = add(base, randMat(12, 5, 4));
    const a = run(isoCts, input(isoCts, [task], base));
    const b = run(isoC, input(isoC, [task], base));
    close(a, b, 1e-5);
  });

  test("rotated diagonal tasks: common directions from Δ, one specific direction per task", () => {
    // τ₁ = P diag(5, 0, 2, 0.5) Qᵀ, τ₂ = P diag(0, 3, 0, 1) Qᵀ; k = 4, T = 2, f = 0.5 → c = 2, s = 1.
    // Common: e₁, e₂ (σ 5, 3); τ₁'s rest diag(0,0,2,0.5) gives e₃ (2), τ₂'s diag(0,0,0,1) gives e₄ (1):
    // result = base + α·(5 + 3 + 2 + 1)/4 · P Qᵀ (iso_c would use (5 + 3 + 2 + 1.5)/4).
    const p = householder(13, 4);
    const q = householder(14, 4);
    const diag = (d: number[]) => d.map((v, i) => d.map((_, j) => (i === j ? v : 0)));
    const base = randMat(15, 4, 4);
    const tasks = [diag([5, 0, 2, 0.5]), diag([0, 3, 0, 1])].map((d) =>
      add(base, mul(mul(p, d), tr(q))),
    );
    const out = run(isoCts, input(isoCts, tasks, base, { p: { common_space_fraction: 0.5 } }));
    close(out, flat(add(base, mul(p, tr(q)), 11 / 4)), 1e-5);
  });
});

describe("orthogonal_continual", () => {
  for (const [m, n] of [
    [5, 4],
    [4, 5],
  ] as const) {
    test(`${m}×${n}: the new update loses its parts along S's singular pairs and dominant block`, () => {
      // S = A diag(5, 3, 1.5, 0.5) Bᵀ: cumulative shares 0.5, 0.8, 0.95 → with alpha 0.85, r = 2.
      const a = householder(21, m);
      const b = householder(22, n);
      const sigma = [5, 3, 1.5, 0.5];
      const d = a.map((_, i) => b.map((_, j) => (i === j ? sigma[i]! : 0)));
      const s = mul(mul(a, d), tr(b));
      const tau = randMat(23, m, n);
      const out = projectOut(arr(s), arr(tau), 0.85);
      const cleaned = mat(read(out), m, n);
      out.dispose();
      const coords = mul(mul(tr(a), cleaned), b); // Aᵀ C B, in S's full bases
      const expected = mul(mul(tr(a), tau), b);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          const removed = i === j || (i < 2 && j < 2);
          expect(Math.abs(coords[i]![j]! - (removed ? 0 : expected[i]![j]!))).toBeLessThan(1e-5);
        }
      }
      // Hence orthogonal to S itself.
      const inner = flat(cleaned).reduce((acc, v, k) => acc + v * flat(s)[k]!, 0);
      expect(Math.abs(inner)).toBeLessThan(1e-4);
    });
  }

  /** Merge a two-tensor "model" (a matrix and a vector): scan both, then merge both. */
  function mergeModel(order: number[]) {
    const base = { w: randMat(31, 5, 4), v: gauss(32, 4) };
    const taus = [33, 34, 35].map((s) => ({ w: randMat(s, 5, 4), v: gauss(s + 100, 4) }));
    const models = order.map((i) => taus[i]!);
    const make = (name: string, which: "w" | "v") =>
      input(
        orthogonalContinual,
        models.map((t) => (which === "w" ? add(base.w, t.w) : base.v.map((x, k) => x + t.v[k]!))),
        base[which],
        { name },
      );
    const totals: Record<string, number> = {};
    for (const [name, which] of [
      ["model.layers.0.mlp.up_proj.weight", "w"],
      ["model.norm.weight", "v"],
    ] as const) {
      for (const [k, v] of Object.entries(orthogonalContinual.scan!(make(name, which)))) {
        totals[k] = (totals[k] ?? 0) + v;
      }
    }
    const w = run(orthogonalContinual, {
      ...make("model.layers.0.mlp.up_proj.weight", "w"),
      totals,
    });
    const v = run(orthogonalContinual, { ...make("model.norm.weight", "v"), totals });
    const dw = add(mat(w, 5, 4), base.w, -1);
    const dv = [...v].map((x, k) => x - base.v[k]!);
    const tauNorms = models.map((t) =>
      Math.sqrt(frob(t.w) ** 2 + t.v.reduce((s, x) => s + x * x, 0)),
    );
    return { dw, dv, models, tauNorms };
  }

  test("adaptive scaling: the merged task vector is as long as the average task vector", () => {
    const { dw, dv, models, tauNorms } = mergeModel([0, 1, 2]);
    const norm = Math.sqrt(frob(dw) ** 2 + dv.reduce((s, x) => s + x * x, 0));
    expect(norm).toBeCloseTo(tauNorms.reduce((s, x) => s + x, 0) / 3, 4);
    // The vector (no projection) is the plain sum of the task vectors, rescaled.
    const sum = models[0]!.v.map((_, k) => models.reduce((s, t) => s + t.v[k]!, 0));
    const c = dv[0]! / sum[0]!;
    close(
      dv,
      sum.map((x) => x * c),
      1e-4,
    );
  });

  test("order matters for matrices (the paper reports the spread over orderings), not for vectors", () => {
    const a = mergeModel([0, 1, 2]);
    const b = mergeModel([2, 0, 1]);
    expect(frob(add(a.dw, b.dw, -1))).toBeGreaterThan(1e-2);
    // Vectors are summed, so they differ only through the global scale.
    const ratio = a.dv[0]! / b.dv[0]!;
    close(
      a.dv,
      b.dv.map((x) => x * ratio),
      1e-4,
    );
  });
});

describe("fisher", () => {
  const statsOf = (fs: number[][]) => fs.map((f) => np.array(f));
  const sq = (f: number[]) => f.reduce((s, x) => s + x * x, 0);

  test("equal Fishers: the weighted linear average", () => {
    const xs = [41, 42].map((s) => gauss(s, 6));
    const f = gauss(43, 6).map((x) => x * x + 0.1);
    const totals = { fisher0: sq(f), fisher1: sq(f) };
    const out = run(
      fisher,
      input(fisher, xs, undefined, {
        stats: statsOf([f, f]),
        totals,
        mp: [{ weight: 1 }, { weight: 3 }],
      }),
    );
    close(
      out,
      xs[0]!.map((x, i) => (x + 3 * xs[1]![i]!) / 4),
    );
  });

  test("normalised, floored for the target only: the reference's formula", () => {
    const xs = [44, 45].map((s) => gauss(s, 5));
    const f0 = [0, 0.5, 2, 1e-9, 3];
    const f1 = [0, 1, 0.25, 0, 4];
    const totals = { fisher0: sq(f0), fisher1: sq(f1) };
    const w = [1, 2];
    const out = run(
      fisher,
      input(fisher, xs, undefined, {
        stats: statsOf([f0, f1]),
        totals,
        mp: w.map((weight) => ({ weight })),
      }),
    );
    const c = [w[0]! / Math.sqrt(totals.fisher0), w[1]! / Math.sqrt(totals.fisher1)];
    const expected = xs[0]!.map((x0, i) => {
      const a = c[0]! * Math.max(f0[i]!, 1e-6);
      const b = c[1]! * f1[i]!;
      return (a * x0 + b * xs[1]![i]!) / (a + b);
    });
    close(out, expected);
  });
});

describe("uncertainty_gm", () => {
  test("H₀ = 0, δ₀ = 0 and equal H: the base plus the mean task vector", () => {
    const base = gauss(51, 6);
    const xs = [52, 53, 54].map((s) => gauss(s, 6));
    const h = gauss(55, 6).map((x) => x * x + 0.01);
    const out = run(
      uncertaintyGm,
      input(uncertaintyGm, xs, base, {
        stats: [h, h, h].map((x) => np.array(x)),
        baseStats: np.zeros([6]),
        p: { scaling_factor: 0.7 },
      }),
    );
    close(
      out,
      base.map((b, i) => b + xs.reduce((s, x) => s + x[i]! - b, 0) / 3),
    );
  });

  test("the reference's preconditioned sum with H₀, δ₀, weights and α", () => {
    const base = gauss(56, 5);
    const xs = [57, 58].map((s) => gauss(s, 5));
    const hs = [59, 60].map((s) => gauss(s, 5).map((x) => x * x));
    const h0 = gauss(61, 5).map((x) => x * x);
    const [alpha, s0, d0, w] = [0.8, 2, 1e-3, [1, 0.5]];
    const out = run(
      uncertaintyGm,
      input(uncertaintyGm, xs, base, {
        stats: hs.map((x) => np.array(x)),
        baseStats: np.array(h0),
        p: { scaling_factor: alpha, scaling_factor_pt: s0, delta_0: d0 },
        mp: w.map((weight) => ({ weight })),
      }),
    );
    const expected = base.map((b, i) => {
      const p = 1 / (hs.reduce((s, h, t) => s + alpha * w[t]! * h[i]!, 0) + s0 * h0[i]! + d0);
      const sum = xs.reduce(
        (s, x, t) => s + p * (w[t]! * hs[t]![i]! + d0 + s0 * h0[i]!) * (x[i]! - b),
        0,
      );
      return b + alpha * sum;
    });
    close(out, expected);
  });
});

describe("mats", () => {
  const [out, inp] = [3, 4];
  const base = randMat(71, out, inp);
  const ws = [72, 73, 74].map((s) => add(base, randMat(s, out, inp)));
  const matsRun = (grams: Mat[], p: Record<string, ParamValue> = {}) =>
    mat(run(mats, input(mats, ws, base, { stats: grams.map((g) => arr(g)), p })), out, inp);

  test("identity Gram matrices: the average (from any start)", () => {
    const avg = ws.reduce((s, w) => add(s, w, 1 / 3), scale(base, 0));
    close(flat(matsRun([eye(inp), eye(inp), eye(inp)], { init: "base" })), flat(avg));
  });

  test("diagonal Gram matrices: Fisher merging with per-input-feature Fishers", () => {
    const diags = [75, 76, 77].map((s) => gauss(s, inp).map((x) => x * x + 0.05));
    const got = matsRun(diags.map((d) => d.map((v, i) => d.map((_, j) => (i === j ? v : 0)))));
    const f = diags.map((d) => Array.from({ length: out }, () => d).flat());
    const viaFisher = run(
      fisher,
      input(fisher, ws.map(flat), undefined, {
        stats: f.map((x) => np.array(x)),
        p: { normalize_fishers: false, fisher_floor: 0 },
      }),
    );
    close(flat(got), viaFisher, 1e-4);
  });

  test("dense Gram matrices: CG reaches the direct solve of (ΣG)Wᵀ = ΣG Wₜᵀ", () => {
    const grams = [78, 79, 80].map((s) => {
      const x = randMat(s, 6, inp);
      return mul(tr(x), x);
    });
    const a = grams.reduce((s, g) => add(s, g), scale(eye(inp), 0));
    const b = grams.reduce(
      (s, g, t) => add(s, mul(g, tr(ws[t]!))),
      scale(mul(eye(inp), tr(base)), 0),
    );
    const direct = tr(solve(a, b));
    close(flat(matsRun(grams, { rtol: 1e-7 })), flat(direct), 1e-3);
  });

  test("model_lambda 0 keeps only the Gram diagonals", () => {
    const grams = [81, 82, 83].map((s) => {
      const x = randMat(s, 6, inp);
      return mul(tr(x), x);
    });
    const diag = grams.map((g) => g.map((row, i) => row.map((v, j) => (i === j ? v : 0))));
    close(flat(matsRun(grams, { model_lambda: 0 })), flat(matsRun(diag)), 1e-4);
  });

  test("a tensor without Gram matrices (norms, embeddings): the average", () => {
    const avg = ws.reduce((s, w) => add(s, w, 1 / 3), scale(base, 0));
    close(run(mats, input(mats, ws, base)), flat(avg));
  });
});

describe("mats_fisher", () => {
  const base = gauss(111, 8);
  const xs = [112, 113].map((s) => base.map((b, i) => b + gauss(s, 8)[i]!));
  const fs = [114, 115].map((s) => gauss(s, 8).map((x) => x * x + 0.1));
  const ta = base.map((b, i) => b + xs.reduce((s, x) => s + x[i]! - b, 0));

  test("converged: Fisher merging without normalisation or floor", () => {
    const out = run(
      matsFisher,
      input(matsFisher, xs, base, { stats: fs.map((f) => np.array(f)), p: { rtol: 1e-7 } }),
    );
    const expected = base.map(
      (_, i) => (fs[0]![i]! * xs[0]![i]! + fs[1]![i]! * xs[1]![i]!) / (fs[0]![i]! + fs[1]![i]!),
    );
    close(out, expected, 1e-4);
  });

  test("0 iterations: the task-arithmetic start; a zero-Fisher entry keeps it", () => {
    const zero = fs.map((f) => f.map((v, i) => (i === 3 ? 0 : v)));
    const stats = () => zero.map((f) => np.array(f));
    close(
      run(matsFisher, input(matsFisher, xs, base, { stats: stats(), p: { iterations: 0 } })),
      ta,
    );
    const out = run(matsFisher, input(matsFisher, xs, base, { stats: stats() }));
    expect(out[3]).toBeCloseTo(ta[3]!, 5);
  });
});

test("conjugate gradient: a small SPD system to the direct solve, within n steps", () => {
  const x = randMat(91, 9, 6);
  const a = mul(tr(x), x);
  const b = randMat(92, 6, 2);
  const am = arr(a);
  const { x: sol, iterations } = conjugateGradient(
    (v) => np.matmul(am.ref, v.ref),
    arr(b),
    np.zeros([6, 2]),
    {
      maxIter: 50,
      rtol: 1e-6,
    },
  );
  am.dispose();
  close(read(sol), flat(solve(a, b)), 1e-3);
  sol.dispose();
  // In exact arithmetic CG ends within n = 12 unknowns; float32 may need a few more.
  expect(iterations).toBeLessThanOrEqual(20);
});

test("every method leaves no array alive", async () => {
  const base = randMat(95, 4, 3);
  const ws = [96, 97].map((s) => add(base, randMat(s, 4, 3)));
  const g = () => [eye(3), eye(3)].map((m) => arr(m));
  const h = () => ws.map(() => np.ones([4, 3]));
  const calls: (() => void)[] = [
    () => run(isoC, input(isoC, ws, base)),
    () => run(isoCts, input(isoCts, ws, base)),
    () => run(mats, input(mats, ws, base, { stats: g() })),
    () => run(mats, input(mats, ws, base)),
    () => run(matsFisher, input(matsFisher, ws, base, { stats: h() })),
    () =>
      run(
        fisher,
        input(fisher, ws, undefined, { stats: h(), totals: { fisher0: 12, fisher1: 12 } }),
      ),
    () => fisher.scan!(input(fisher, ws, undefined, { stats: h() })),
    () =>
      run(
        uncertaintyGm,
        input(uncertaintyGm, ws, base, { stats: h(), baseStats: np.ones([4, 3]) }),
      ),
    () => orthogonalContinual.scan!(input(orthogonalContinual, ws, base)),
    () =>
      run(
        orthogonalContinual,
        input(orthogonalContinual, ws, base, { totals: { sum: 1, tau0: 1, tau1: 1 } }),
      ),
  ];
  for (const call of calls) call(); // compile first
  const before = await liveBuffers();
  for (const call of calls) call();
  expect(await liveBuffers()).toBe(before);
});
