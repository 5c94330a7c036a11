/**
 * Eigendecompositions for the preconditioned matrix methods (Shampoo, SOAP, COSMOS). They run on
 * the host in float64 (the matrices are preconditioner-sized, and jax-js's own eigh is a host
 * routine too) and return arrays of the input's dtype; everything around them stays on the device.
 *
 * - symmetricEigen: eigenvalues (descending) and eigenvectors (columns) of a symmetric matrix, by
 *   tridiagonal reduction + implicit QL. Not jax-js's eigh: its cyclic Jacobi is ~8× slower
 *   (measured here: 1.0 s vs 0.13 s at n = 256, 11.5 s vs 1.3 s at n = 512), and it stops once the off-diagonal entries fall below
 *   tol·max(1, max|a|) — an absolute threshold, too loose for gradient statistics with small
 *   entries (1e-6 in float32).
 * - inverseRoot: (A + ε·λmax·I)^(−1/p) of a symmetric PSD A through its eigendecomposition
 *   (eigenvalues clamped at 0; the ridge is relative to the largest eigenvalue, as in
 *   Anil et al. 2020's scalable Shampoo).
 * (QR comes from src/linalg/qr.ts, `orthonormalize`: Householder in float64 on the host.)
 */
import { numpy as np } from "@jax-js/jax";

/**
 * Eigendecomposition of a symmetric n×n matrix (row-major, float64) by Householder reduction to
 * tridiagonal form and the QL algorithm with implicit shifts (the EISPACK tred2/tql2 pair, as in
 * Golub & Van Loan §8.3). Returns eigenvalues in descending order and the eigenvectors as the
 * rows of `vectors` (row i belongs to value i). About 10·n³ flops, several times fewer than the
 * sweeps of a cyclic Jacobi.
 */
export function symmetricEigenHost(
  a: ArrayLike<number>,
  n: number,
): {
  values: Float64Array;
  vectors: Float64Array[];
} {
  // v[i] is row i of V; the input is symmetrised.
  const v = Array.from({ length: n }, (_, i) =>
    Float64Array.from({ length: n }, (_, j) => 0.5 * (a[i * n + j] + a[j * n + i])),
  );
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tridiagonalize(v, d, e, n);
  tridiagonalQl(v, d, e, n);
  // V's columns are the eigenvectors; sort them by descending eigenvalue.
  const order = Array.from(d.keys()).sort((i, j) => d[j] - d[i]);
  return {
    values: Float64Array.from(order, (i) => d[i]),
    vectors: order.map((c) => Float64Array.from({ length: n }, (_, r) => v[r][c])),
  };
}

/** Householder reduction of the symmetric v to tridiagonal (d: diagonal, e: sub-diagonal), with
 * the orthogonal transformation accumulated in v. */
function tridiagonalize(v: Float64Array[], d: Float64Array, e: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) d[j] = v[n - 1][j];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = v[i - 1][j];
        v[i][j] = 0;
        v[j][i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = f > 0 ? -Math.sqrt(h) : Math.sqrt(h);
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        v[j][i] = f;
        g = e[j] + v[j][j] * f;
        for (let k = j + 1; k < i; k++) {
          g += v[k][j] * d[k];
          e[k] += v[k][j] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        for (let k = j; k < i; k++) v[k][j] -= f * e[k] + g * d[k];
        d[j] = v[i - 1][j];
        v[i][j] = 0;
      }
    }
    d[i] = h;
  }
  // Accumulate the transformations.
  for (let i = 0; i < n - 1; i++) {
    v[n - 1][i] = v[i][i];
    v[i][i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = v[k][i + 1] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += v[k][i + 1] * v[k][j];
        for (let k = 0; k <= i; k++) v[k][j] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) v[k][i + 1] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = v[n - 1][j];
    v[n - 1][j] = 0;
  }
  v[n - 1][n - 1] = 1;
  e[0] = 0;
}

/** QL with implicit shifts on the tridiagonal (d, e); rotations accumulated into v's columns. */
function tridiagonalQl(v: Float64Array[], d: Float64Array, e: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let largest = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    largest = Math.max(largest, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n && Math.abs(e[m]) > eps * largest) m++;
    if (m > l) {
      do {
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          for (let k = 0; k < n; k++) {
            const row = v[k];
            h = row[i + 1];
            row[i + 1] = s * row[i] + c * h;
            row[i] = c * row[i] - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * largest);
    }
    d[l] += f;
    e[l] = 0;
  }
}

/** Host eigendecomposition of a square array (consumes it). */
function eigenOf(a: np.Array): { values: Float64Array; vectors: Float64Array[]; n: number } {
  const n = a.shape[0];
  if (a.ndim !== 2 || a.shape[1] !== n)
    throw new Error(`symmetric eigen: need n×n, got [${a.shape}]`);
  return { ...symmetricEigenHost(a.dataSync() as ArrayLike<number>, n), n };
}

/** Columns = the given vectors, each scaled by factors[i], as a float32 n×n array. */
function columns(vectors: Float64Array[], n: number, factors?: ArrayLike<number>): np.Array {
  const flat = new Float32Array(n * n);
  vectors.forEach((vec, i) => {
    const f = factors ? factors[i] : 1;
    for (let r = 0; r < n; r++) flat[r * n + i] = f * vec[r];
  });
  return np.array(flat, { shape: [n, n] });
}

const withDtype = (x: np.Array, dtype: np.DType) => (dtype === np.float32 ? x : x.astype(dtype));

/** [eigenvalues descending, eigenvectors as columns] of a symmetric matrix. Consumes a. */
export function symmetricEigen(a: np.Array): [np.Array, np.Array] {
  const dtype = a.dtype;
  const { values, vectors, n } = eigenOf(a);
  return [
    withDtype(np.array(Float32Array.from(values)), dtype),
    withDtype(columns(vectors, n), dtype),
  ];
}

/** (A + ridge·λmax·I)^(−1/p) for a symmetric PSD A (eigenvalues clamped at 0). Consumes a. */
export function inverseRoot(a: np.Array, p: number, ridge: number): np.Array {
  const dtype = a.dtype;
  const { values, vectors, n } = eigenOf(a);
  // The floor keeps an all-zero statistic finite (its root then multiplies a zero gradient).
  const shift = Math.max(ridge * Math.max(values[0], 0), 1e-30);
  const factors = Array.from(values, (x) => (Math.max(x, 0) + shift) ** (-1 / p));
  const v = columns(vectors, n);
  return withDtype(np.matmul(columns(vectors, n, factors), v.transpose()), dtype);
}
