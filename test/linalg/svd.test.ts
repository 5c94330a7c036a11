/**
 * SVD against closed-form cases: matrices built as U diag(s) Vᵀ from known orthogonal factors
 * (DCT columns, Householder reflectors), so s is known exactly; the Hilbert matrix, whose extreme
 * singular values come from power iteration on H and on its exact integer inverse. Speed is not
 * asserted here (it is a benchmark); the 256×256 and 1024×256 cases only check accuracy.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { signNormalize, svd } from "../../src/linalg/index.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";
import {
  at,
  columns,
  dctColumns,
  fromArray,
  hilbert,
  hilbertInverse,
  type Mat,
  mat,
  matmul,
  maxAbs,
  maxAbsDiff,
  orthogonal,
  orthogonalityError,
  spectralRadius,
  toArray,
  transpose,
  usv,
  vector,
} from "./host-matrix.js";

beforeAll(setup);

interface Factors {
  u: Mat;
  s: number[];
  vt: Mat;
}

function factor(a: Mat, dtype: "float32" | "float64", fullMatrices = false): Factors {
  const { u, s, vt } = svd(toArray(a, dtype), { fullMatrices });
  return { u: fromArray(u), s: vector(s), vt: fromArray(vt) };
}

function reconstruct({ u, s, vt }: Factors): Mat {
  return usv(u, s, transpose(vt));
}

/** Apply the documented sign rule to known factors (test-side, float64). */
function signRule(u: Mat, v: Mat): { u: Mat; v: Mat } {
  const uu = mat(u.m, u.n, (i, j) => at(u, i, j));
  const vv = mat(v.m, v.n, (i, j) => at(v, i, j));
  for (let j = 0; j < u.n; j++) {
    let best = 0;
    for (let i = 1; i < u.m; i++) if (Math.abs(at(u, i, j)) > Math.abs(at(u, best, j))) best = i;
    if (at(u, best, j) < 0) {
      for (let i = 0; i < u.m; i++) uu.data[i * u.n + j] *= -1;
      for (let i = 0; i < v.m; i++) vv.data[i * v.n + j] *= -1;
    }
  }
  return { u: uu, v: vv };
}

/** Largest-magnitude entry of every column of u is positive (first on ties). */
function followsSignRule(u: Mat): boolean {
  for (let j = 0; j < u.n; j++) {
    let best = 0;
    for (let i = 1; i < u.m; i++) if (Math.abs(at(u, i, j)) > Math.abs(at(u, best, j))) best = i;
    if (at(u, best, j) < 0) return false;
  }
  return true;
}

describe("svd", () => {
  test("recovers known singular values, incl. repeated, tiny and zero (tall, wide, square)", () => {
    const s = [5, 3, 3, 1, 0.5, 1e-3, 1e-6, 0];
    for (const [m, n] of [
      [40, 8],
      [8, 40],
      [8, 8],
    ]) {
      const k = Math.min(m, n);
      const u = columns(dctColumns(m), m - k, m);
      const v = columns(orthogonal(n), 0, k);
      const a = usv(u, s.slice(0, k), v);
      const f64 = factor(a, "float64");
      f64.s.forEach((x, i) => {
        expect(Math.abs(x - s[i])).toBeLessThan(1e-14 * 5);
      });
      const f32 = factor(a, "float32");
      f32.s.forEach((x, i) => {
        expect(Math.abs(x - s[i])).toBeLessThan(1e-6 * 5);
      });
      for (const f of [f64, f32]) {
        const tol = f === f64 ? 1e-14 : 1e-6;
        expect(orthogonalityError(f.u)).toBeLessThan(tol);
        expect(orthogonalityError(transpose(f.vt))).toBeLessThan(tol);
        expect(maxAbsDiff(reconstruct(f), a)).toBeLessThan(tol * 5);
      }
    }
  });

  test("singular vectors of well-separated values equal the known ones (after the sign rule)", () => {
    const m = 30;
    const n = 12;
    const s = Array.from({ length: n }, (_, i) => 2 ** -i);
    // Generic orthogonal factors: every column's largest entry wins by a clear margin, so the
    // sign rule is decided the same way from exact and computed vectors.
    const known = signRule(columns(orthogonal(m), 0, n), orthogonal(n));
    for (let j = 0; j < n; j++) {
      const mags = Array.from({ length: m }, (_, i) => Math.abs(at(known.u, i, j))).sort(
        (x, y) => y - x,
      );
      expect(mags[0] - mags[1]).toBeGreaterThan(1e-3);
    }
    const a = usv(known.u, s, known.v);
    for (const dtype of ["float64", "float32"] as const) {
      const f = factor(a, dtype);
      // A perturbation ε‖A‖ moves v_i by about ε‖A‖ / gap_i; gap_i = s_i / 2 here.
      const eps = dtype === "float64" ? 1e-15 : 1e-7;
      for (let i = 0; i < n; i++) {
        const tol = (20 * eps) / s[i];
        for (let r = 0; r < m; r++)
          expect(Math.abs(at(f.u, r, i) - at(known.u, r, i))).toBeLessThan(tol);
        for (let c = 0; c < n; c++)
          expect(Math.abs(at(f.vt, i, c) - at(known.v, c, i))).toBeLessThan(tol);
      }
    }
  });

  test("condition number 1e6 in float32 and 1e12 in float64: orthogonal factors, accurate s", () => {
    const m = 64;
    const n = 48;
    for (const [dtype, decades, tol] of [
      ["float32", 6, 1e-6],
      ["float64", 12, 1e-14],
    ] as const) {
      const s = Array.from({ length: n }, (_, i) => 10 ** (-decades * (i / (n - 1))));
      const a = usv(columns(dctColumns(m), 0, n), s, orthogonal(n));
      for (const input of [a, transpose(a)]) {
        const f = factor(input, dtype);
        f.s.forEach((x, i) => {
          expect(Math.abs(x - s[i])).toBeLessThan(tol);
        });
        expect(orthogonalityError(f.u)).toBeLessThan(tol);
        expect(orthogonalityError(transpose(f.vt))).toBeLessThan(tol);
        expect(maxAbsDiff(reconstruct(f), input)).toBeLessThan(tol * 5);
      }
    }
  });

  test("Hilbert 9×9: extreme singular values match power iteration on H and on exact H⁻¹", () => {
    const n = 9;
    const h = hilbert(n);
    const inv = hilbertInverse(n);
    expect(
      maxAbsDiff(
        matmul(h, inv),
        mat(n, n, (i, j) => (i === j ? 1 : 0)),
      ),
    ).toBeLessThan(1e-5);
    const sMax = spectralRadius(h);
    const sMin = 1 / spectralRadius(inv, 200);
    const f = factor(h, "float64");
    expect(Math.abs(f.s[0] - sMax)).toBeLessThan(1e-14);
    expect(Math.abs(f.s[n - 1] - sMin)).toBeLessThan(1e-15 * n);
    expect(f.s[n - 1]).toBeGreaterThan(0);
    expect(orthogonalityError(f.u)).toBeLessThan(1e-14);
    expect(orthogonalityError(transpose(f.vt))).toBeLessThan(1e-14);
    // H is symmetric positive definite: U = V.
    expect(maxAbsDiff(f.u, transpose(f.vt))).toBeLessThan(1e-6);
  });

  test("rank one, zero and identity matrices", () => {
    const x = [3, -4, 0, 12]; // ‖x‖ = 13
    const y = [-1, 2, 2]; // ‖y‖ = 3
    const rank1 = mat(4, 3, (i, j) => x[i] * y[j]);
    const f = factor(rank1, "float64");
    expect(f.s[0]).toBeCloseTo(39, 12);
    expect(Math.abs(f.s[1]) + Math.abs(f.s[2])).toBeLessThan(1e-13);
    // Sign rule: u_0 = x/13 has largest entry 12/13 > 0, so v_0 = y/3.
    x.forEach((xi, i) => {
      expect(at(f.u, i, 0)).toBeCloseTo(xi / 13, 14);
    });
    y.forEach((yj, j) => {
      expect(at(f.vt, 0, j)).toBeCloseTo(yj / 3, 14);
    });

    const zero = factor(
      mat(5, 3, () => 0),
      "float32",
    );
    expect(zero.s).toEqual([0, 0, 0]);
    expect(orthogonalityError(zero.u)).toBe(0);
    expect(orthogonalityError(transpose(zero.vt))).toBe(0);

    const eye = factor(
      mat(4, 4, (i, j) => (i === j ? 2 : 0)),
      "float32",
    );
    expect(eye.s).toEqual([2, 2, 2, 2]);
    expect(
      maxAbsDiff(
        reconstruct(eye),
        mat(4, 4, (i, j) => (i === j ? 2 : 0)),
      ),
    ).toBe(0);
  });

  test("fullMatrices gives square orthogonal U and Vᵀ (tall and wide)", () => {
    for (const [m, n] of [
      [7, 3],
      [3, 7],
    ]) {
      const a = mat(m, n, (i, j) => Math.sin(i * 2 + j) + (i === j ? 1 : 0));
      const f = factor(a, "float64", true);
      expect([f.u.m, f.u.n, f.vt.m, f.vt.n]).toEqual([m, m, n, n]);
      expect(orthogonalityError(f.u)).toBeLessThan(1e-14);
      expect(orthogonalityError(transpose(f.vt))).toBeLessThan(1e-14);
      const k = Math.min(m, n);
      const thin = { u: columns(f.u, 0, k), s: f.s, vt: transpose(columns(transpose(f.vt), 0, k)) };
      expect(maxAbsDiff(reconstruct(thin), a)).toBeLessThan(1e-14);
      expect(followsSignRule(f.u)).toBe(true);
      if (n > k) expect(followsSignRule(columns(transpose(f.vt), k, n))).toBe(true);
    }
  });

  test("sizes 256×256 and 1024×256 (float32): orthogonality and reconstruction", () => {
    for (const [m, n] of [
      [256, 256],
      [1024, 256],
    ]) {
      const a = mat(m, n, (i, j) => Math.sin(i * 0.7 + j * 1.3 + i * j * 1e-3) + (i === j ? 1 : 0));
      const f = factor(a, "float32");
      expect(orthogonalityError(f.u)).toBeLessThan(1e-6);
      expect(orthogonalityError(transpose(f.vt))).toBeLessThan(1e-6);
      expect(maxAbsDiff(reconstruct(f), a) / maxAbs(a)).toBeLessThan(1e-5);
      for (let i = 1; i < n; i++) expect(f.s[i]).toBeLessThanOrEqual(f.s[i - 1]);
    }
  });

  test("results follow the sign rule and signNormalize leaves them unchanged", () => {
    const a = mat(10, 6, (i, j) => Math.cos(i * j + i) - 0.2 * j);
    const { u, s, vt } = svd(toArray(a));
    const uData = read(u);
    const vtData = read(vt);
    expect(followsSignRule(fromArray(u.ref))).toBe(true);
    const again = signNormalize(u, vt);
    expect(read(again.u)).toEqual(uData);
    expect(read(again.vt)).toEqual(vtData);
    again.u.dispose();
    again.vt.dispose();
    s.dispose();
  });

  test("NaN input is rejected; bad options throw", () => {
    const bad = mat(3, 3, (i, j) => (i === 1 && j === 2 ? Number.NaN : 1));
    expect(() => svd(toArray(bad))).toThrow(RangeError);
    const a = np.zeros([2, 2]);
    expect(() => svd(a.ref, { fullMatrices: "yes" as unknown as boolean })).toThrow(TypeError);
    expect(() => svd(np.zeros([4]))).toThrow(RangeError);
    a.dispose();
  });

  test("leaks no buffers", async () => {
    const before = await liveBuffers();
    for (const full of [false, true]) {
      const { u, s, vt } = svd(toArray(mat(9, 5, (i, j) => i - j * j)), { fullMatrices: full });
      u.dispose();
      s.dispose();
      vt.dispose();
    }
    expect(await liveBuffers()).toBe(before);
  });
});

describe("signNormalize", () => {
  test("flips each pair so the largest-magnitude entry of u_i is positive", () => {
    const u = mat(3, 2, (i, j) => [0.6, -0.8, -0.8, 0.6, 0, 0][i * 2 + j]);
    const vt = mat(2, 2, (i, j) => [1, 0, 0, 1][i * 2 + j]);
    const s = [2, 1];
    const out = signNormalize(toArray(u, "float64"), toArray(vt, "float64"));
    const nu = fromArray(out.u);
    const nvt = fromArray(out.vt);
    // column 0: largest |.| is −0.8 → flipped; column 1: largest is −0.8 → flipped.
    expect(Array.from(nu.data)).toEqual([-0.6, 0.8, 0.8, -0.6, -0, -0]);
    expect(Array.from(nvt.data)).toEqual([-1, -0, -0, -1]);
    // the product is unchanged
    expect(maxAbsDiff(usv(nu, s, transpose(nvt)), usv(u, s, transpose(vt)))).toBe(0);
  });

  test("ties go to the first entry; extra rows of vt follow their own largest entry", () => {
    const u = mat(2, 1, (i) => [-Math.SQRT1_2, Math.SQRT1_2][i]);
    const vt = mat(2, 3, (i, j) => [1, 0, 0, 0, -3, 1][i * 3 + j]);
    const out = signNormalize(toArray(u, "float64"), toArray(vt, "float64"));
    expect(Array.from(fromArray(out.u).data)).toEqual([Math.SQRT1_2, -Math.SQRT1_2]);
    expect(Array.from(fromArray(out.vt).data)).toEqual([-1, -0, -0, -0, 3, -1]);
  });
});
