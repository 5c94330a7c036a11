/**
 * Test-side float64 matrix helpers, written independently of src/linalg (plain loops): closed-form
 * orthogonal matrices, products and error measures. Row-major Float64Array everywhere.
 */
import { numpy as np } from "@jax-js/jax";
import { fromHost } from "../../src/linalg/host.js";
import { read } from "../helpers/engine.js";

export interface Mat {
  m: number;
  n: number;
  data: Float64Array;
}

export const mat = (m: number, n: number, f: (i: number, j: number) => number): Mat => {
  const data = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) data[i * n + j] = f(i, j);
  return { m, n, data };
};

export const at = (a: Mat, i: number, j: number) => a.data[i * a.n + j];

export function matmul(a: Mat, b: Mat): Mat {
  if (a.n !== b.m) throw new Error(`matmul: ${a.m}×${a.n} by ${b.m}×${b.n}`);
  return mat(a.m, b.n, (i, j) => {
    let s = 0;
    for (let k = 0; k < a.n; k++) s += a.data[i * a.n + k] * b.data[k * b.n + j];
    return s;
  });
}

export const transpose = (a: Mat): Mat => mat(a.n, a.m, (i, j) => at(a, j, i));

/** Columns j0..j1 of a. */
export const columns = (a: Mat, j0: number, j1: number): Mat =>
  mat(a.m, j1 - j0, (i, j) => at(a, i, j0 + j));

/** DCT-II basis vectors as COLUMNS: an orthogonal n×n matrix from Math.cos. */
export const dctColumns = (n: number): Mat =>
  mat(
    n,
    n,
    (i, k) =>
      (k === 0 ? Math.sqrt(1 / n) : Math.sqrt(2 / n)) * Math.cos((Math.PI * (i + 0.5) * k) / n),
  );

/** Householder reflector I − 2wwᵀ/(wᵀw) for w_i = f(i): symmetric and orthogonal. */
export function reflector(n: number, f: (i: number) => number): Mat {
  const w = Array.from({ length: n }, (_, i) => f(i));
  const ww = w.reduce((s, x) => s + x * x, 0);
  return mat(n, n, (i, j) => (i === j ? 1 : 0) - (2 * w[i] * w[j]) / ww);
}

/** An n×n orthogonal matrix with no special structure: a product of two reflectors. */
export const orthogonal = (n: number): Mat =>
  matmul(
    reflector(n, (i) => Math.sin(i + 1)),
    reflector(n, (i) => Math.cos(2 * i) + 0.3),
  );

/** U diag(s) Vᵀ with U m×k and V n×k having orthonormal columns. */
export function usv(u: Mat, s: number[], v: Mat): Mat {
  return mat(u.m, v.m, (i, j) => {
    let x = 0;
    for (let k = 0; k < s.length; k++) x += at(u, i, k) * s[k] * at(v, j, k);
    return x;
  });
}

/** max |AᵀA − I| (columns orthonormal?). */
export function orthogonalityError(a: Mat): number {
  let worst = 0;
  for (let p = 0; p < a.n; p++) {
    for (let q = 0; q <= p; q++) {
      let s = 0;
      for (let i = 0; i < a.m; i++) s += at(a, i, p) * at(a, i, q);
      worst = Math.max(worst, Math.abs(s - (p === q ? 1 : 0)));
    }
  }
  return worst;
}

export function maxAbsDiff(a: Mat, b: Mat): number {
  if (a.m !== b.m || a.n !== b.n) throw new Error(`shape ${a.m}×${a.n} vs ${b.m}×${b.n}`);
  let worst = 0;
  for (let i = 0; i < a.data.length; i++) worst = Math.max(worst, Math.abs(a.data[i] - b.data[i]));
  return worst;
}

export const maxAbs = (a: Mat) => a.data.reduce((s, x) => Math.max(s, Math.abs(x)), 0);

/** Make a jax-js array from a Mat. */
export const toArray = (a: Mat, dtype: "float32" | "float64" = "float32"): np.Array =>
  fromHost(a.data, [a.m, a.n], dtype);

/** Read (and release) a 2-D jax-js array as a Mat. */
export function fromArray(a: np.Array): Mat {
  const [m, n] = a.shape;
  const data = read(a);
  a.dispose();
  return { m, n, data };
}

/** Read (and release) a 1-D jax-js array. */
export function vector(a: np.Array): number[] {
  const out = Array.from(read(a));
  a.dispose();
  return out;
}

/** Largest |λ| of a symmetric matrix by power iteration (well-conditioned; float64). */
export function spectralRadius(a: Mat, iterations = 2000): number {
  let x = Array.from({ length: a.n }, (_, i) => 1 + i / a.n);
  let lambda = 0;
  for (let t = 0; t < iterations; t++) {
    const y = x.map((_, i) => x.reduce((s, xj, j) => s + at(a, i, j) * xj, 0));
    const norm = Math.sqrt(y.reduce((s, v) => s + v * v, 0));
    lambda = norm;
    x = y.map((v) => v / norm);
  }
  return lambda;
}

/** Hilbert matrix H_ij = 1/(i + j + 1) and its exact integer inverse. */
export const hilbert = (n: number): Mat => mat(n, n, (i, j) => 1 / (i + j + 1));

const binomial = (n: number, k: number): number => {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return Math.round(r);
};

/** (H⁻¹)_ij = (−1)^(i+j) (i+j+1) C(n+i, n−j−1) C(n+j, n−i−1) C(i+j, i)² (0-based). */
export const hilbertInverse = (n: number): Mat =>
  mat(
    n,
    n,
    (i, j) =>
      (-1) ** (i + j) *
      (i + j + 1) *
      binomial(n + i, n - j - 1) *
      binomial(n + j, n - i - 1) *
      binomial(i + j, i) ** 2,
  );

// Device-array helpers for the matrix-function tests (float32 arrays, compared on the host).

/** A rows × cols float32 array of deterministic, well-spread entries. */
export const filled = (rows: number, cols: number, salt = 0): np.Array =>
  toArray(
    mat(
      rows,
      cols,
      (i, j) => Math.sin(1.3 * (i * cols + j) + 0.7 * salt) + 0.1 * Math.sqrt(i * cols + j),
    ),
  );

/** Q diag(d) Qᵀ for an orthonormal Q (borrowed). */
export const compose = (q: np.Array, d: number[]): np.Array =>
  np.matmul(q.ref.mul(np.array(Float32Array.from(d))), q.ref.transpose());

/** Largest |a − b| relative to max|b| (consumes both). */
export function relError(a: np.Array, b: np.Array): number {
  const x = read(a);
  const y = read(b);
  a.dispose();
  b.dispose();
  const scale = y.reduce((s, v) => Math.max(s, Math.abs(v)), 0);
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0) / scale;
}
