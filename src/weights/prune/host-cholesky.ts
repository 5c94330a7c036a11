/**
 * The factor SparseGPT works with, U = upper Cholesky factor of H⁻¹ (H⁻¹ = UᵀU), for a symmetric
 * positive-definite H, on the host in float64: L = chol(H) (H = LLᵀ), H⁻¹ = L⁻ᵀL⁻¹, then
 * U = chol(H⁻¹)ᵀ. These are the three steps of torch.linalg.cholesky → torch.cholesky_inverse →
 * torch.linalg.cholesky(upper=True) in the reference (IST-DASLab/sparsegpt sparsegpt.py).
 *
 * Why the host: the matrices are in×in of one linear layer (at most a few hundred here), the
 * factorisations are sequential, and float64 keeps them accurate (src/linalg/host.ts explains
 * the same choice for QR/SVD). O(n³/3) each, plain JavaScript loops over Float64Array.
 */

/** Lower Cholesky factor of the n×n SPD matrix `a` (row-major); throws if not positive definite. */
export function choleskyLower(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j];
    for (let k = 0; k < j; k++) d -= l[j * n + k] * l[j * n + k];
    if (!(d > 0))
      throw new RangeError(`cholesky: the matrix is not positive definite (pivot ${j})`);
    const ljj = Math.sqrt(d);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = s / ljj;
    }
  }
  return l;
}

/** Inverse of a lower-triangular n×n matrix (forward substitution, column by column). */
export function invertLower(l: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    inv[j * n + j] = 1 / l[j * n + j];
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      for (let k = j; k < i; k++) s += l[i * n + k] * inv[k * n + j];
      inv[i * n + j] = -s / l[i * n + i];
    }
  }
  return inv;
}

/** U upper triangular with UᵀU = H⁻¹. `h` is SPD, n×n row-major; not modified. */
export function upperCholeskyOfInverse(h: Float64Array, n: number): Float64Array {
  const li = invertLower(choleskyLower(h, n), n);
  // H⁻¹ = L⁻ᵀ L⁻¹: (H⁻¹)_ij = Σ_k li[k, i]·li[k, j], k ≥ max(i, j) (li is lower triangular).
  const hinv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = i; k < n; k++) s += li[k * n + i] * li[k * n + j];
      hinv[i * n + j] = s;
      hinv[j * n + i] = s;
    }
  }
  const lower = choleskyLower(hinv, n);
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) u[j * n + i] = lower[i * n + j];
  return u;
}
