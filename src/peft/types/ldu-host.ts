/**
 * The LDU decomposition LoLDU initialises from: W = P·L·D·U with P a permutation, L unit lower
 * triangular [m, k], D diagonal [k] and U unit upper triangular [k, n], k = min(m, n).
 *
 * Rule: Gaussian elimination with partial pivoting, as torch.linalg.lu (LAPACK getrf): at column
 * j the pivot is the first row i ≥ j of largest |a_ij|; W = P·L·U', then D = diag(U') and
 * U = D⁻¹U' (the authors' ldu_decomposition). All in float64 on the host, once per module at
 * init (not a training path).
 *
 * Deviations: none in the math; a zero pivot among the first r makes U undefined (the authors
 * would divide by 0 and get NaN), so it is refused with one line.
 */
import { UsageError } from "../../engine/errors.js";

/** The leading r columns of P·L, D and rows of U of a row-major m×n `w` (not modified). */
export function leadingLdu(
  w: Float64Array,
  m: number,
  n: number,
  r: number,
): { pl: Float64Array; d: Float64Array; u: Float64Array } {
  const a = Float64Array.from(w);
  const k = Math.min(m, n);
  const perm = Array.from({ length: m }, (_, i) => i); // perm[i]: original row now at row i
  for (let j = 0; j < k; j++) {
    let p = j;
    for (let i = j + 1; i < m; i++) if (Math.abs(a[i * n + j]) > Math.abs(a[p * n + j])) p = i;
    if (p !== j) {
      for (let c = 0; c < n; c++) {
        const t = a[j * n + c];
        a[j * n + c] = a[p * n + c];
        a[p * n + c] = t;
      }
      [perm[j], perm[p]] = [perm[p], perm[j]];
    }
    const pivot = a[j * n + j];
    if (pivot === 0) continue; // LAPACK leaves the column as is; refused below if within r
    for (let i = j + 1; i < m; i++) {
      const f = a[i * n + j] / pivot;
      a[i * n + j] = f; // L below the diagonal
      if (f !== 0) for (let c = j + 1; c < n; c++) a[i * n + c] -= f * a[j * n + c];
    }
  }
  const d = new Float64Array(r);
  const u = new Float64Array(r * n);
  for (let i = 0; i < r; i++) {
    d[i] = a[i * n + i];
    if (d[i] === 0)
      throw new UsageError(
        `LoLDU: the base weight is singular within the first ${r} pivots (pivot ${i} is 0); accepted: a rank below ${i + 1}`,
      );
    u[i * n + i] = 1;
    for (let c = i + 1; c < n; c++) u[i * n + c] = a[i * n + c] / d[i];
  }
  // P·L: row perm[i] of the result is row i of L (L's unit diagonal, multipliers below it).
  const pl = new Float64Array(m * r);
  for (let i = 0; i < m; i++) {
    const row = perm[i] * r;
    for (let c = 0; c < Math.min(r, i + 1); c++) pl[row + c] = c === i ? 1 : a[i * n + c];
  }
  return { pl, d, u };
}
