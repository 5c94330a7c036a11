/**
 * choleskySolve — x = A⁻¹ b for a symmetric positive-definite n × n matrix A, in host float64:
 * A = L Lᵀ (Cholesky–Banachiewicz, row by row), then L y = b and Lᵀ x = y by substitution.
 * O(n³/3) for the factor and O(n²) per solve; meant for the small m × m systems of windowed
 * second-order methods (M-FAC's m ≤ a few hundred), not for parameter-sized matrices.
 * Throws when A is not numerically positive definite (a non-positive pivot).
 */

/** Solve A x = b; `a` is row-major n × n (only its lower triangle is read). */
export function choleskySolve(a: Float64Array, b: Float64Array, n: number): Float64Array {
  if (a.length !== n * n || b.length !== n) {
    throw new RangeError(`choleskySolve: expected ${n}×${n} and ${n} entries`);
  }
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * n + j];
      for (let k = 0; k < j; k++) sum -= l[i * n + k] * l[j * n + k];
      if (i === j) {
        if (!(sum > 0)) throw new RangeError("choleskySolve: the matrix is not positive definite");
        l[i * n + i] = Math.sqrt(sum);
      } else l[i * n + j] = sum / l[j * n + j];
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sum = b[i];
    for (let k = 0; k < i; k++) sum -= l[i * n + k] * y[k];
    y[i] = sum / l[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let sum = y[i];
    for (let k = i + 1; k < n; k++) sum -= l[k * n + i] * x[k];
    x[i] = sum / l[i * n + i];
  }
  return x;
}
