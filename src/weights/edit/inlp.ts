/**
 * INLP: iterative null-space projection of a concept out of a set of vectors.
 *
 *   P₀ = I;  repeat up to `iterations` times:
 *     train a linear probe W (d×c) predicting the label from X P   (X: n×d, one row per text)
 *     stop when its cross-validated accuracy is within `tolerance` of the majority share m
 *       (default: two standard errors of a chance-level accuracy, 2·√(m(1 − m)/n))
 *     B ← orthonormal basis of span[B, W]                        (QR from src/linalg)
 *     P = I − B Bᵀ      (the intersection of the probes' null spaces)
 *
 * P is an orthogonal projector (P² = P = Pᵀ) that leaves every vector orthogonal to the
 * removed directions B unchanged.
 *
 * The probe: closed-form ridge least squares on centred data, W = (XcᵀXc + λI)⁻¹ XcᵀYc, with
 * Y = ±1 for two classes (one direction) or the one-hot labels for c > 2 classes (c directions),
 * λ = ridge · tr(XcᵀXc)/d; it predicts sign / argmax of Xc W + Ȳ. Accuracy is measured on a
 * 5-fold cross-validation (row i in fold i mod 5); the directions come from a fit on all rows.
 *
 * Paper: Ravfogel et al. 2020, "Null It Out: Guarding Protected Attributes by Iterative Nullspace
 * Projection". Reference: shauli-ravfogel/nullspace_projection src/debias.py
 * (get_debiasing_projection: classifiers on X·P, the projection onto the intersection of their
 * null spaces, skipped below a minimum accuracy) — read, not copied. Deviations: the classifier
 * is ridge least squares (a linear discriminant), not sklearn's LinearSVC/SGDClassifier, and
 * deterministic (no random subsets); iteration stops at the first probe at chance instead of
 * skipping it; P is built from one orthonormal basis of all directions (the reference multiplies
 * per-iteration projections, equal in exact arithmetic since each W lies in the current range).
 */
import { numpy as np } from "@jax-js/jax";
import { float64Array } from "../../engine/float64.js";
import { qr } from "../../linalg/index.js";
import { choleskyLower } from "../prune/host-cholesky.js";

/** Options of {@link inlp}. */
export interface InlpOptions {
  /** Most probes (and rounds of projection). Default 10. */
  iterations?: number;
  /** A probe within this of the majority share is at chance: stop. Default 2·√(m(1 − m)/n). */
  tolerance?: number;
  /** λ relative to the mean eigenvalue of XcᵀXc. Default 1e-3. */
  ridge?: number;
}

/** What {@link inlp} found. */
export interface InlpResult {
  /** d×r orthonormal basis of the removed directions, row-major. */
  basis: Float64Array;
  /** r, the number of removed directions. */
  rank: number;
  /** Cross-validated accuracy of each probe, the last at chance unless iterations ran out. */
  accuracies: number[];
  /** The majority class's share m of the rows. */
  majority: number;
}

/** A fitted probe: its directions (d×c, row-major) and cross-validated accuracy. */
export interface Probe {
  w: Float64Array;
  c: number;
  accuracy: number;
  majority: number;
}

/** A least-squares fit on some rows: directions W (d×c) and the centring means. */
interface Fit {
  w: Float64Array;
  mx: Float64Array;
  my: Float64Array;
}

function fitRows(
  x: Float64Array,
  rows: number[],
  d: number,
  c: number,
  target: (i: number, j: number) => number,
  ridge: number,
): Fit {
  // Centre X and Y on the fitted rows.
  const mx = new Float64Array(d);
  const my = new Float64Array(c);
  for (const i of rows) {
    for (let k = 0; k < d; k++) mx[k] += x[i * d + k] / rows.length;
    for (let j = 0; j < c; j++) my[j] += target(i, j) / rows.length;
  }
  const xc = new Float32Array(rows.length * d);
  const yc = new Float32Array(rows.length * c);
  rows.forEach((i, r) => {
    for (let k = 0; k < d; k++) xc[r * d + k] = x[i * d + k] - mx[k];
    for (let j = 0; j < c; j++) yc[r * c + j] = target(i, j) - my[j];
  });
  const xa = np.array(xc, { shape: [rows.length, d], dtype: np.float32 });
  const ya = np.array(yc, { shape: [rows.length, c], dtype: np.float32 });
  const gram = Float64Array.from(np.matmul(xa.ref.transpose(), xa.ref).dataSync() as Float32Array);
  const xty = Float64Array.from(np.matmul(xa.transpose(), ya).dataSync() as Float32Array);
  let trace = 0;
  for (let k = 0; k < d; k++) trace += gram[k * d + k];
  const lambda = Math.max(ridge * (trace / d), 1e-12);
  for (let k = 0; k < d; k++) gram[k * d + k] += lambda;
  return { w: solveSpd(gram, xty, d, c), mx, my };
}

/** The class a fit predicts for row i: sign (c = 1) or argmax of (x − mx) W + my. */
function predict(f: Fit, x: Float64Array, i: number, d: number, c: number): number {
  let best = -1;
  let bestScore = -Infinity;
  for (let j = 0; j < c; j++) {
    let s = f.my[j];
    for (let k = 0; k < d; k++) s += (x[i * d + k] - f.mx[k]) * f.w[k * c + j];
    if (c === 1) return s > 0 ? 1 : 0;
    if (s > bestScore) {
      bestScore = s;
      best = j;
    }
  }
  return best;
}

/**
 * Ridge least-squares probe for `labels` (integers 0..classes−1) from the rows of X (n×d,
 * row-major): directions fitted on all rows, accuracy by 5-fold cross-validation (row i in fold
 * i mod 5), so every row is scored by a probe that did not see it.
 */
export function linearProbe(
  x: Float64Array,
  labels: Int32Array,
  d: number,
  classes: number,
  ridge = 1e-3,
): Probe {
  const n = labels.length;
  if (n < 5) throw new RangeError(`a probe needs at least 5 labelled rows, got ${n}`);
  const c = classes === 2 ? 1 : classes;
  const target = (i: number, j: number) =>
    classes === 2 ? (labels[i] === 1 ? 1 : -1) : labels[i] === j ? 1 : 0;
  const all = [...Array(n).keys()];
  let correct = 0;
  for (let fold = 0; fold < 5; fold++) {
    const f = fitRows(
      x,
      all.filter((i) => i % 5 !== fold),
      d,
      c,
      target,
      ridge,
    );
    for (let i = fold; i < n; i += 5) if (predict(f, x, i, d, c) === labels[i]) correct++;
  }
  const counts = new Map<number, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  const majority = Math.max(...counts.values()) / n;
  return { w: fitRows(x, all, d, c, target, ridge).w, c, accuracy: correct / n, majority };
}

/** Solve A X = B for SPD A (d×d) and B (d×c) by Cholesky, on the host. */
function solveSpd(a: Float64Array, b: Float64Array, d: number, c: number): Float64Array {
  const l = choleskyLower(a, d);
  const x = Float64Array.from(b);
  for (let j = 0; j < c; j++) {
    for (let i = 0; i < d; i++) {
      let s = x[i * c + j];
      for (let k = 0; k < i; k++) s -= l[i * d + k] * x[k * c + j];
      x[i * c + j] = s / l[i * d + i];
    }
    for (let i = d - 1; i >= 0; i--) {
      let s = x[i * c + j];
      for (let k = i + 1; k < d; k++) s -= l[k * d + i] * x[k * c + j];
      x[i * c + j] = s / l[i * d + i];
    }
  }
  return x;
}

/** X P = X − (X B) Bᵀ for X n×d and B d×r (row-major), on the device. */
export function projectRows(
  x: Float64Array,
  n: number,
  d: number,
  basis: Float64Array,
): Float64Array {
  const r = basis.length / d;
  if (r === 0) return Float64Array.from(x);
  const xa = np.array(Float32Array.from(x), { shape: [n, d], dtype: np.float32 });
  const b = np.array(Float32Array.from(basis), { shape: [d, r], dtype: np.float32 });
  const out = xa.ref.sub(np.matmul(np.matmul(xa, b.ref), b.transpose()));
  return Float64Array.from(out.dataSync() as Float32Array);
}

/**
 * [B | W] orthonormalised (linalg QR), dropping W's columns already in span(B) or dependent on
 * the others (|R_jj| ≤ 1e-4 max |R_ii|: W comes from float32 sums, e.g. one-hot columns summing
 * to zero).
 */
function extendBasis(basis: Float64Array, d: number, w: Float64Array, c: number): Float64Array {
  const r = basis.length / d;
  const m = new Float64Array(d * (r + c));
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < r; j++) m[i * (r + c) + j] = basis[i * r + j];
    for (let j = 0; j < c; j++) m[i * (r + c) + r + j] = w[i * c + j];
  }
  const cols = r + c;
  const { q, r: rr } = qr(float64Array(m, [d, cols]));
  const qh = q.dataSync() as Float64Array;
  const rh = rr.dataSync() as Float64Array;
  const k = Math.min(d, cols);
  let max = 0;
  for (let j = 0; j < k; j++) max = Math.max(max, Math.abs(rh[j * cols + j]));
  const keep: number[] = [];
  for (let j = 0; j < k; j++) if (j < r || Math.abs(rh[j * cols + j]) > 1e-4 * max) keep.push(j);
  const out = new Float64Array(d * keep.length);
  for (let i = 0; i < d; i++) {
    keep.forEach((j, t) => {
      out[i * keep.length + t] = qh[i * k + j];
    });
  }
  return out;
}

/** Run INLP on X (n×d row-major) with integer labels 0..classes−1. */
export function inlp(
  x: Float64Array,
  labels: Int32Array,
  d: number,
  classes: number,
  options: InlpOptions = {},
): InlpResult {
  const iterations = options.iterations ?? 10;
  const n = labels.length;
  if (x.length !== n * d) throw new RangeError(`X has ${x.length} entries, expected ${n}×${d}`);
  if (!(classes >= 2)) throw new RangeError(`INLP needs at least 2 classes, got ${classes}`);
  let basis: Float64Array = new Float64Array(0);
  const accuracies: number[] = [];
  let majority = 0;
  for (let it = 0; it < iterations && basis.length / d < d; it++) {
    const probe = linearProbe(projectRows(x, n, d, basis), labels, d, classes, options.ridge);
    accuracies.push(probe.accuracy);
    majority = probe.majority;
    const m = probe.majority;
    const tolerance = options.tolerance ?? 2 * Math.sqrt((m * (1 - m)) / n);
    if (probe.accuracy <= m + tolerance) break;
    basis = extendBasis(basis, d, probe.w, probe.c);
  }
  return { basis, rank: basis.length / d, accuracies, majority };
}

/** P = I − B Bᵀ (d×d, row-major) from a d×r orthonormal basis. */
export function nullspaceProjection(basis: Float64Array, d: number): Float64Array {
  const r = basis.length / d;
  const p = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let s = i === j ? 1 : 0;
      for (let k = 0; k < r; k++) s -= basis[i * r + k] * basis[j * r + k];
      p[i * d + j] = s;
    }
  }
  return p;
}
