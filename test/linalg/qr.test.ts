import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { orthonormalize, qr } from "../../src/linalg/index.js";
import { liveBuffers, setup } from "../helpers/engine.js";
import {
  at,
  columns,
  dctColumns,
  fromArray,
  hilbert,
  type Mat,
  mat,
  matmul,
  maxAbs,
  maxAbsDiff,
  orthogonal,
  orthogonalityError,
  toArray,
  usv,
} from "./host-matrix.js";

beforeAll(setup);

/** max |R_ij| below the diagonal, and the smallest diagonal entry. */
function triangularity(r: Mat): { below: number; minDiag: number } {
  let below = 0;
  let minDiag = Infinity;
  for (let i = 0; i < r.m; i++) {
    for (let j = 0; j < Math.min(i, r.n); j++) below = Math.max(below, Math.abs(at(r, i, j)));
    if (i < r.n) minDiag = Math.min(minDiag, at(r, i, i));
  }
  return { below, minDiag };
}

function check(a: Mat, dtype: "float32" | "float64", mode: "reduced" | "complete" = "reduced") {
  const { q, r } = qr(toArray(a, dtype), mode);
  return { q: fromArray(q), r: fromArray(r) };
}

describe("qr", () => {
  test("textbook 3×3 example has the known exact factors", () => {
    // A = QR with Q = [6/7 −69/175 −58/175; 3/7 158/175 6/175; −2/7 6/35 −33/35],
    // R = [14 21 −14; 0 175 −70; 0 0 35] (the classic worked example; diag(R) > 0 makes it unique).
    const a = mat(3, 3, (i, j) => [12, -51, 4, 6, 167, -68, -4, 24, -41][i * 3 + j]);
    const qExpected = mat(
      3,
      3,
      (i, j) => [150, -69, -58, 75, 158, 6, -50, 30, -165][i * 3 + j] / 175,
    );
    const rExpected = mat(3, 3, (i, j) => [14, 21, -14, 0, 175, -70, 0, 0, 35][i * 3 + j]);
    for (const dtype of ["float64", "float32"] as const) {
      const { q, r } = check(a, dtype);
      const tol = dtype === "float64" ? 1e-13 : 1e-6;
      expect(maxAbsDiff(q, qExpected)).toBeLessThan(tol);
      expect(maxAbsDiff(r, rExpected)).toBeLessThan(tol * 200);
    }
  });

  test("matches modified Gram–Schmidt (float64, independent) on a well-conditioned matrix", () => {
    const a = mat(20, 7, (i, j) => Math.sin(i * 1.3 + j * 0.7) + (i === j ? 2 : 0));
    const qRef = mat(20, 7, () => 0);
    const v = columns(a, 0, 7);
    for (let j = 0; j < 7; j++) {
      let norm = 0;
      for (let i = 0; i < 20; i++) norm += at(v, i, j) ** 2;
      norm = Math.sqrt(norm);
      for (let i = 0; i < 20; i++) qRef.data[i * 7 + j] = at(v, i, j) / norm;
      for (let k = j + 1; k < 7; k++) {
        let dot = 0;
        for (let i = 0; i < 20; i++) dot += qRef.data[i * 7 + j] * at(v, i, k);
        for (let i = 0; i < 20; i++) v.data[i * 7 + k] -= dot * qRef.data[i * 7 + j];
      }
    }
    const { q } = check(a, "float32");
    expect(maxAbsDiff(q, qRef)).toBeLessThan(2e-6);
  });

  test("Hilbert 10×10 (cond ≈ 1.6e13): Q orthogonal, R triangular, QR = A", () => {
    const h = hilbert(10);
    const f64 = check(h, "float64");
    expect(orthogonalityError(f64.q)).toBeLessThan(1e-14);
    expect(maxAbsDiff(matmul(f64.q, f64.r), h)).toBeLessThan(1e-15 * 10);
    const t = triangularity(f64.r);
    expect(t.below).toBe(0);
    expect(t.minDiag).toBeGreaterThan(0);
    const f32 = check(h, "float32");
    expect(orthogonalityError(f32.q)).toBeLessThan(1e-6);
    expect(maxAbsDiff(matmul(f32.q, f32.r), h) / maxAbs(h)).toBeLessThan(1e-6);
  });

  test("condition number 1e6 (U diag(s) Vᵀ, known s): Q orthonormal to 1e-6 in float32", () => {
    const m = 96;
    const n = 40;
    const s = Array.from({ length: n }, (_, i) => 10 ** (-6 * (i / (n - 1))));
    const a = usv(columns(dctColumns(m), 0, n), s, orthogonal(n));
    const { q, r } = check(a, "float32");
    expect(orthogonalityError(q)).toBeLessThan(1e-6);
    expect(maxAbsDiff(matmul(q, r), a) / maxAbs(a)).toBeLessThan(1e-6);
    // |det R| = Π s_i: the diagonal of R carries the singular values' product (log scale).
    const logDet = Array.from({ length: n }, (_, i) => Math.log10(at(r, i, i))).reduce(
      (x, y) => x + y,
    );
    const logProd = s.reduce((x, y) => x + Math.log10(y), 0);
    expect(Math.abs(logDet - logProd)).toBeLessThan(1e-3);
  });

  test("tall matrix spanning several panels (130×70)", () => {
    const a = mat(130, 70, (i, j) => Math.cos(i * 0.37 + j * j * 0.11) + (i % 7 === j % 5 ? 1 : 0));
    const { q, r } = check(a, "float32");
    expect([q.m, q.n, r.m, r.n]).toEqual([130, 70, 70, 70]);
    expect(orthogonalityError(q)).toBeLessThan(1e-6);
    expect(maxAbsDiff(matmul(q, r), a) / maxAbs(a)).toBeLessThan(1e-6);
    const t = triangularity(r);
    expect(t.below).toBe(0);
    expect(t.minDiag).toBeGreaterThan(0);
  });

  test("complete mode: Q is m×m orthogonal, R is m×n with zero rows below", () => {
    const a = mat(9, 4, (i, j) => 1 / (i + 2 * j + 1));
    const { q, r } = check(a, "float64", "complete");
    expect([q.m, q.n, r.m, r.n]).toEqual([9, 9, 9, 4]);
    expect(orthogonalityError(q)).toBeLessThan(1e-14);
    expect(maxAbsDiff(matmul(q, r), a)).toBeLessThan(1e-15 * 10);
    expect(triangularity(r).below).toBe(0);
  });

  test("wide matrix: Q is m×m, R is m×n upper trapezoidal", () => {
    const a = mat(3, 5, (i, j) => (i + 1) * (j + 2) + (i === j ? 3 : 0) - j);
    const { q, r } = check(a, "float64");
    expect([q.m, q.n, r.m, r.n]).toEqual([3, 3, 3, 5]);
    expect(orthogonalityError(q)).toBeLessThan(1e-14);
    expect(maxAbsDiff(matmul(q, r), a)).toBeLessThan(1e-13);
    expect(triangularity(r).below).toBe(0);
  });

  test("rank-deficient input (zero and repeated columns) still gives orthonormal Q", () => {
    const a = mat(8, 4, (i, j) => (j === 1 ? 0 : j === 3 ? i + 1 : Math.sin(i + j)));
    for (let i = 0; i < 8; i++) a.data[i * 4 + 2] = a.data[i * 4 + 0]; // column 2 = column 0
    const { q, r } = check(a, "float64");
    expect(orthogonalityError(q)).toBeLessThan(1e-14);
    expect(maxAbsDiff(matmul(q, r), a)).toBeLessThan(1e-14);
    expect(Math.abs(at(r, 1, 1))).toBeLessThan(1e-15);
    expect(Math.abs(at(r, 2, 2))).toBeLessThan(1e-14);
  });

  test("orthonormalize returns the Q factor", () => {
    const a = mat(6, 2, (i, j) => i + j * j + 1);
    const q = fromArray(orthonormalize(toArray(a)));
    const ref = check(a, "float32").q;
    expect(maxAbsDiff(q, ref)).toBe(0);
  });

  test("bad input and options", () => {
    const a = np.zeros([3, 3]);
    expect(() => qr(a.ref, "full" as "reduced")).toThrow(RangeError);
    expect(() => qr(np.zeros([3]))).toThrow(RangeError);
    expect(() => qr(np.zeros([2, 2], { dtype: np.int32 }))).toThrow(TypeError);
    a.dispose();
  });

  test("leaks no buffers", async () => {
    const before = await liveBuffers();
    const { q, r } = qr(toArray(mat(40, 33, (i, j) => Math.sin(i * j + 1))), "complete");
    q.dispose();
    r.dispose();
    orthonormalize(toArray(mat(5, 3, (i, j) => i - j * 2 + 1))).dispose();
    expect(await liveBuffers()).toBe(before);
  });
});
