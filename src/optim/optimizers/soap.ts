/**
 * soap — ShampoO with Adam in the Preconditioner's eigenbasis (Vyas et al. 2024,
 * arXiv:2409.11321). For a leaf G with k ≥ 2 dimensions n₁ × … × n_k, one Kronecker factor per
 * dimension i (for a matrix: L = factor 1, R = factor 2), with G₍ᵢ₎ the mode-i unfolding (nᵢ × rest):
 *   Fᵢ ← β_s·Fᵢ + (1 − β_s)·G₍ᵢ₎ G₍ᵢ₎ᵀ      (Shampoo's statistics, β_s = shampooBeta)
 *   Qᵢ: eigenvectors of Fᵢ (descending eigenvalues)
 *   G' = G ×₁ Q₁ᵀ ×₂ … ×_k Q_kᵀ (mode products; a matrix: Q_Lᵀ G Q_R)
 *   m ← β1·m + (1 − β1)·G' (m lives in the eigenbasis);  v ← β2·v + (1 − β2)·G'²
 *   N = (m / (√v + ε)) ×₁ Q₁ ×₂ … ×_k Q_k   (N ← N / RMS(N) with normalizeGrads)
 *   p ← p − η·√(1 − β2ᵗ)/(1 − β1ᵗ)·N;  then p ← p − η·λ·p
 * The first step only initialises the factors and their eigenbases (eigh) and leaves p
 * unchanged. After each step the factors are updated, and every `precondFrequency` steps each
 * basis is refreshed by one power iteration and QR (Qᵢ ← QR(Fᵢ·Qᵢ), columns sorted by the
 * estimated eigenvalues diag(QᵢᵀFᵢQᵢ), v permuted with them along dimension i) and m is rotated
 * into the new bases. Dimensions longer than `maxPrecondDim` keep the identity basis. With
 * `mergeDims`, the leaf is first reshaped as the authors' merge_dims does: consecutive
 * dimensions are multiplied together, left to right, while the product stays ≤ maxPrecondDim
 * ([4, 2, 3, 3] with 12 → [8, 9]); the factors then belong to the merged dimensions. With
 * `blockSize` > 0, leaves with a side longer than blockSize in their (out, −1) view are cut into
 * blocks of at most blockSize × blockSize, each with its own statistics and bases (distributed
 * Shampoo's blocking, transforms/blocked.ts; the authors' SOAP has no blocking); leaves that fit
 * keep their dimensions.
 *
 * Reference: nikhilvyas/SOAP soap.py (the paper's version, main branch: per-dimension GG by
 * tensordot over the other dimensions, project/project_back by one tensordot per dimension,
 * merge_dims), checked against tools/fixtures/matrix_optimizers.py (test/optim/matrix.test.ts)
 * for matrices and tools/fixtures/round2e_soap_tensor.py (test/optim/round2e-soap-tensor.test.ts)
 * for 3-D and 4-D leaves, skipped and merged dimensions.
 * Deviations: eigh and QR run in float64 on the host (linalg/matrix-functions.ts, linalg/qr.ts; the
 * authors: float32 on the device); m is rotated only when the bases change (the authors project
 * it back and forth after every step, the same up to rounding); 1-D leaves go to AdamW with
 * SOAP's hyperparameters through `isMatrix` (the authors run SOAP's Adam on them in the identity
 * basis, also skipping the first step); precondition_1d and channels_last are not offered. A
 * scheduled learning rate is read at the call index (0-based), like every optimizer here.
 * State per leaf: the factors and bases (nᵢ² floats each, per preconditioned dimension; the bases
 * are zeros until the first step fills them, so the state keeps its structure from init on) and
 * m, v in the (merged) leaf shape.
 * Note: when a factor is singular at the first step (a 6×4 gradient gives a 6×6 L of rank 4), the
 * eigenvectors of its zero eigenvalue are arbitrary, in the authors' code as here, and the
 * trajectory depends on that choice; the fixtures therefore use leaves whose unfoldings have full
 * row rank, or skip the dimension that has not.
 */
import { numpy as np } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import { symmetricEigen } from "../../linalg/matrix-functions.js";
import { orthonormalize } from "../../linalg/qr.js";
import {
  evaluate,
  type GradientTransformation,
  type LeafSpec,
  type ScalarOrSchedule,
} from "../core.js";
import { blocked } from "../transforms/blocked.js";
import { matrixOrFallback, matrixShape } from "../transforms/matrix-partition.js";
import { biasCorrection, ema, emaSquare } from "../transforms/moments.js";
import { stepThenDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { type AdamWOptions, adamOptions, adamw } from "./adam.js";

/** Options of {@link soap}. */
export interface SoapOptions {
  learningRate?: ScalarOrSchedule;
  b1?: number;
  b2?: number;
  /** Decay of the statistics L, R (default: b2). */
  shampooBeta?: number;
  eps?: number;
  /** Applied after the step: p ← p − η·λ·p. */
  weightDecay?: number;
  /** Steps between refreshes of the eigenbases. */
  precondFrequency?: number;
  /** Dimensions longer than this are not preconditioned. */
  maxPrecondDim?: number;
  /** Merge consecutive dimensions while their product stays ≤ maxPrecondDim (the authors'). */
  mergeDims?: boolean;
  /** Cut sides longer than this into blocks preconditioned apart; 0: no blocking. */
  blockSize?: number;
  normalizeGrads?: boolean;
  correctBias?: boolean;
  /** Options of the AdamW for non-matrix leaves (default: SOAP's lr, b1, b2, eps, weightDecay). */
  adamw?: AdamWOptions;
  isMatrix?: LeafSpec<boolean>;
}

interface SoapLeaf {
  /** Shampoo's statistic of each (merged) dimension; null for one longer than maxPrecondDim. */
  stats: (np.Array | null)[];
  /** The eigenbasis of each statistic (zeros before the first step), null where it is null. */
  bases: (np.Array | null)[];
  /** Adam's moments, in the eigenbasis, in the (merged) leaf shape. */
  mu: np.Array;
  nu: np.Array;
}

/**
 * SOAP's state: the step count and, per leaf, Adam's moments, Shampoo's statistics and their
 * eigenbases.
 */
export interface SoapState {
  count: number;
  leaves: Record<string, SoapLeaf>;
}

/**
 * The authors' merge_dims: consecutive dimensions multiplied together, left to right, while the
 * product stays ≤ maxDim; a dimension that would overflow starts the next group.
 */
export function mergedShape(shape: readonly number[], maxDim: number): number[] {
  const out: number[] = [];
  let current = 1;
  for (const n of shape) {
    if (current * n <= maxDim) current *= n;
    else if (current > 1) {
      out.push(current);
      current = n;
    } else out.push(n);
  }
  if (current > 1 || out.length === 0) out.push(current);
  return out;
}

/**
 * x ×ᵢ Qᵢᵀ over every dimension (to the eigenbasis), or x ×ᵢ Qᵢ (`back`, from it); a null
 * basis is the identity. Beyond matrices, one dimension at a time as the authors' tensordot:
 * the leading dimension is contracted and its result appended last, so after k products the
 * dimensions are back in order. Borrows the bases, consumes x.
 */
function modeProducts(x: np.Array, bases: (np.Array | null)[], back: boolean): np.Array {
  if (bases.every((q) => q === null)) return x;
  if (bases.length === 2) {
    const [left, right] = bases;
    if (left) x = np.matmul(back ? left.ref : left.ref.transpose(), x);
    if (right) x = np.matmul(x, back ? right.ref.transpose() : right.ref);
    return x;
  }
  for (const q of bases) {
    const [n, ...rest] = x.shape;
    let m = x.reshape([n, -1]).transpose();
    if (q) m = np.matmul(m, back ? q.ref.transpose() : q.ref);
    x = m.reshape([...rest, n]);
  }
  return x;
}

/** Each factor's EMA with the Gram matrix of its unfolding, G₍ᵢ₎ G₍ᵢ₎ᵀ. Consumes the factors, borrows g. */
function updateStatistics(
  stats: (np.Array | null)[],
  g: np.Array,
  beta: number,
): (np.Array | null)[] {
  if (stats.length === 2) {
    const [left, right] = stats;
    return [
      left && ema(left, np.matmul(g.ref, g.ref.transpose()), beta),
      right && ema(right, np.matmul(g.ref.transpose(), g.ref), beta),
    ];
  }
  // The same cycle as modeProducts: at turn i the leading dimension is i, and the rest's order
  // (a permutation of the columns of G₍ᵢ₎) leaves the Gram matrix unchanged.
  let x = g.ref;
  const out = stats.map((stat) => {
    const [n, ...rest] = x.shape;
    const m = x.reshape([n, -1]);
    const next = stat && ema(stat, np.matmul(m.ref, m.ref.transpose()), beta);
    x = m.transpose().reshape([...rest, n]);
    return next;
  });
  x.dispose();
  return out;
}

/** The eigenvectors of a statistic (descending eigenvalues); borrows stat. */
const eigenvectors = (stat: np.Array): np.Array => {
  const [values, vectors] = symmetricEigen(stat.ref);
  values.dispose();
  return vectors;
};

/**
 * One power iteration + QR for the basis of one dimension; returns the new basis and the second
 * moment permuted like its columns along that axis. Consumes basis and nu; borrows stat.
 */
function refreshBasis(
  stat: np.Array,
  basis: np.Array,
  nu: np.Array,
  axis: number,
): [np.Array, np.Array] {
  const estimated = basis.ref.mul(np.matmul(stat.ref, basis.ref)).sum(0);
  const order = np.argsort(estimated.neg());
  const sorted = np.take(basis, order.ref, 1);
  return [orthonormalize(np.matmul(stat.ref, sorted)), np.take(nu, order, axis)];
}

function soapMatrices(o: {
  learningRate: ScalarOrSchedule;
  b1: number;
  b2: number;
  shampooBeta: number;
  eps: number;
  weightDecay: number;
  precondFrequency: number;
  maxPrecondDim: number;
  mergeDims: boolean;
  normalizeGrads: boolean;
  correctBias: boolean;
}): GradientTransformation<SoapState> {
  const dimsOf = (shape: readonly number[], path: string): number[] => {
    matrixShape(shape, "soap", path); // refuses leaves with < 2 dimensions
    return o.mergeDims ? mergedShape(shape, o.maxPrecondDim) : [...shape];
  };
  const square = (n: number) => (n <= o.maxPrecondDim ? np.zeros([n, n]) : null);
  return {
    init(params) {
      const leaves: Record<string, SoapLeaf> = {};
      tree.walk(params, (p: np.Array, path) => {
        const dims = dimsOf(p.shape, path);
        leaves[path] = {
          stats: dims.map(square),
          bases: dims.map(square),
          mu: np.zeros(dims),
          nu: np.zeros(dims),
        };
      });
      tree.dispose(params);
      return { count: 0, leaves };
    },
    update(updates, state, params) {
      if (params === undefined && o.weightDecay > 0) {
        throw new Error("soap needs params in update() for its weight decay");
      }
      const t = state.count; // Adam steps taken after this call (the first call takes none)
      const lr = evaluate(o.learningRate, state.count);
      const leaves: Record<string, SoapLeaf> = {};
      const step = (grad: np.Array, path: string, param?: np.Array): np.Array => {
        const s = state.leaves[path];
        const shape = grad.shape;
        const dims = dimsOf(shape, path);
        const g = grad.reshape(dims);
        if (t === 0) {
          // First call: statistics and eigenbases only; no step (the authors' choice, so that the
          // current gradient is never used in its own projection).
          const stats = updateStatistics(s.stats, g, o.shampooBeta);
          g.dispose();
          param?.dispose();
          for (const q of s.bases) q?.dispose();
          const bases = stats.map((stat) => stat && eigenvectors(stat));
          leaves[path] = { ...s, stats, bases };
          return np.zeros(shape);
        }
        const projected = modeProducts(g.ref, s.bases, false);
        let mu = ema(s.mu, projected.ref, o.b1);
        let nu = emaSquare(s.nu, projected, o.b2);
        let direction = modeProducts(mu.ref.div(np.sqrt(nu.ref).add(o.eps)), s.bases, true);
        if (o.normalizeGrads) {
          direction = direction.ref.div(np.sqrt(direction.ref.mul(direction).mean()).add(1e-30));
        }
        const stepSize = o.correctBias
          ? (lr * Math.sqrt(biasCorrection(o.b2, t))) / biasCorrection(o.b1, t)
          : lr;
        // p' = p − stepSize·N, then p' ← p'·(1 − η·λ) (the decay after the step).
        let out = direction.mul(-stepSize);
        if (o.weightDecay > 0) {
          out = stepThenDecay(out, param!.reshape(dims), lr * o.weightDecay);
        } else param?.dispose();

        // Update the preconditioner after the step (the authors' order).
        const stats = updateStatistics(s.stats, g, o.shampooBeta);
        g.dispose();
        let bases = s.bases;
        if (t % o.precondFrequency === 0) {
          const original = modeProducts(mu, bases, true);
          bases = bases.map((q, axis) => {
            if (q === null) return null;
            let fresh: np.Array;
            [fresh, nu] = refreshBasis(stats[axis]!, q, nu, axis);
            return fresh;
          });
          mu = modeProducts(original, bases, false);
        }
        leaves[path] = { stats, bases, mu, nu };
        return out.reshape(shape);
      };
      const out =
        params === undefined
          ? tree.mapWithPath((g: np.Array, path) => step(g, path), updates)
          : tree.mapWithPath((g: np.Array, path, p: np.Array) => step(g, path, p), updates, params);
      return [out, { count: state.count + 1, leaves }];
    },
  };
}

/**
 * The authors' SOAP defaults (the learning rate, 3e-3, apart). shampooBeta, unset, is b2;
 * maxPrecondDim is the authors' 10000.
 */
export const SOAP_DEFAULTS = {
  b1: 0.95,
  b2: 0.95,
  shampooBeta: undefined as number | undefined,
  eps: 1e-8,
  weightDecay: 0.01,
  precondFrequency: 10,
  maxPrecondDim: 10000,
  mergeDims: false,
  normalizeGrads: false,
  correctBias: true,
  blockSize: 0,
} as const;

/**
 * SOAP (Vyas et al. 2024): Adam in the eigenbasis of Shampoo's preconditioner, refreshed every
 * `precondFrequency` steps.
 */
export function soap(options: SoapOptions = {}) {
  check.knownOptions("soap", options, [
    ...Object.keys(SOAP_DEFAULTS),
    "learningRate",
    "adamw",
    "isMatrix",
  ]);
  const d = { ...SOAP_DEFAULTS, ...options };
  const betas = adamOptions(d);
  const o = {
    ...betas,
    learningRate: check.learningRate(d.learningRate ?? 3e-3),
    shampooBeta: check.unitInterval("shampooBeta", d.shampooBeta ?? betas.b2),
    weightDecay: check.nonNegative("weightDecay", d.weightDecay),
    precondFrequency: check.integer("precondFrequency", d.precondFrequency, 1),
    maxPrecondDim: check.integer("maxPrecondDim", d.maxPrecondDim, 1),
    mergeDims: check.boolean("mergeDims", d.mergeDims),
    normalizeGrads: check.boolean("normalizeGrads", d.normalizeGrads),
    correctBias: check.boolean("correctBias", d.correctBias),
  };
  const fallback = adamw({
    learningRate: o.learningRate,
    b1: o.b1,
    b2: o.b2,
    eps: o.eps,
    weightDecay: o.weightDecay,
    ...d.adamw,
  });
  const blockSize = check.integer("blockSize", d.blockSize, 0);
  const matrices = blockSize > 0 ? blocked(soapMatrices(o), blockSize) : soapMatrices(o);
  return matrixOrFallback(matrices, fallback, d.isMatrix);
}
