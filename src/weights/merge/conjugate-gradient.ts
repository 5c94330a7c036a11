/**
 * Conjugate gradient for A X = B with A symmetric positive (semi)definite, given only as a
 * product X ↦ A X (matrix-free). X and B may be matrices: they are treated as one flattened
 * vector, with inner products over every entry, as scipy.sparse.linalg.cg sees the flattened
 * system MaTS hands it (r-three/mats src/merging/conjugateGradient_fisherMerging.py, read, not
 * copied). Stops when ‖B − A X‖ ≤ rtol·‖B‖ (scipy's default rtol 1e-5, atol 0) or after
 * `maxIter` steps. Hestenes–Stiefel iteration; the scalars go through the host once per step.
 */
import { numpy as np } from "@jax-js/jax";

/** Options of {@link conjugateGradient}. */
export interface CgOptions {
  maxIter: number;
  /** Relative residual at which to stop. Default 1e-5. */
  rtol?: number;
}

const dot = (a: np.Array, b: np.Array): number =>
  (np.multiply(a, b).sum().astype(np.float64).dataSync() as Float64Array)[0]!;

/**
 * X with A X ≈ B, from `x0`. `apply` borrows its argument and returns a new array. Consumes `b`
 * and `x0`. Returns the iterate and the steps taken.
 */
export function conjugateGradient(
  apply: (x: np.Array) => np.Array,
  b: np.Array,
  x0: np.Array,
  { maxIter, rtol = 1e-5 }: CgOptions,
): { x: np.Array; iterations: number; residual: number } {
  const bNorm = Math.sqrt(dot(b.ref, b.ref));
  let x = x0;
  let r = np.subtract(b, apply(x));
  let rr = dot(r.ref, r.ref);
  let p = r.ref;
  let k = 0;
  while (k < maxIter && Math.sqrt(rr) > rtol * bNorm) {
    const ap = apply(p);
    const pap = dot(p.ref, ap.ref);
    // A semidefinite A with p in its null space: no further progress along p.
    if (!(pap > 0)) {
      ap.dispose();
      break;
    }
    const alpha = rr / pap;
    x = np.add(x, np.multiply(p.ref, alpha));
    r = np.subtract(r, np.multiply(ap, alpha));
    const next = dot(r.ref, r.ref);
    p = np.add(r.ref, np.multiply(p, next / rr));
    rr = next;
    k++;
  }
  p.dispose();
  r.dispose();
  return { x, iterations: k, residual: Math.sqrt(rr) };
}
