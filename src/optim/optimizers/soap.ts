/**
 * soap — ShampoO with Adam in the Preconditioner's eigenbasis (Vyas et al. 2024,
 * arXiv:2409.11321). For a matrix leaf G (≥3-D leaves viewed as (out, −1)):
 *   L ← β_s·L + (1 − β_s)·G Gᵀ,  R ← β_s·R + (1 − β_s)·Gᵀ G     (Shampoo's statistics, β_s = shampooBeta)
 *   Q_L, Q_R: eigenvectors of L, R (descending eigenvalues)
 *   G' = Q_Lᵀ G Q_R;  m ← β1·m + (1 − β1)·G' (m lives in the eigenbasis);  v ← β2·v + (1 − β2)·G'²
 *   N = Q_L (m / (√v + ε)) Q_Rᵀ   (N ← N / RMS(N) with normalizeGrads)
 *   p ← p − η·√(1 − β2ᵗ)/(1 − β1ᵗ)·N;  then p ← p − η·λ·p
 * The first step only initialises L, R and their eigenbases (eigh) and leaves p unchanged. After
 * each step L, R are updated, and every `precondFrequency` steps the bases are refreshed by one
 * power iteration and QR (Q ← QR(L·Q), columns sorted by the estimated eigenvalues diag(QᵀLQ),
 * v permuted with them) and m is rotated into the new bases. Sides longer than `maxPrecondDim`
 * keep the identity basis. With `blockSize` > 0, matrices with a side longer than blockSize are
 * cut into blocks of at most blockSize × blockSize, each with its own statistics and bases
 * (distributed Shampoo's blocking, transforms/blocked.ts; the authors' SOAP has no blocking).
 *
 * Reference: nikhilvyas/SOAP soap.py (the paper's version), checked against
 * tools/fixtures/matrix_optimizers.py (test/optim/matrix.test.ts).
 * Deviations: eigh and QR run in float64 on the host (linalg/matrix-functions.ts, linalg/qr.ts; the
 * authors: float32 on the device); ≥3-D leaves are viewed as (out, −1) (the authors keep one
 * preconditioner per dimension, or merge dimensions with merge_dims); 1-D leaves go to AdamW with
 * SOAP's hyperparameters through `isMatrix` (the authors run SOAP's Adam on them in the identity
 * basis, also skipping the first step); precondition_1d and channels_last are not offered. A
 * scheduled learning rate is read at the call index (0-based), like every optimizer here.
 * Note: when L or R is singular at the first step (a 6×4 gradient gives a 6×6 L of rank 4), the
 * eigenvectors of its zero eigenvalue are arbitrary, in the authors' code as here, and the
 * trajectory depends on that choice; the fixtures therefore use square or one-sided cases.
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
import { asMatrix, matrixOrFallback, matrixShape } from "../transforms/matrix-partition.js";
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
  /** Sides longer than this are not preconditioned. */
  maxPrecondDim?: number;
  /** Cut sides longer than this into blocks preconditioned apart; 0: no blocking. */
  blockSize?: number;
  normalizeGrads?: boolean;
  correctBias?: boolean;
  /** Options of the AdamW for non-matrix leaves (default: SOAP's lr, b1, b2, eps, weightDecay). */
  adamw?: AdamWOptions;
  isMatrix?: LeafSpec<boolean>;
}

interface SoapLeaf {
  /** Statistics and eigenbases of each side; null for a side that is not preconditioned. */
  left: np.Array | null;
  right: np.Array | null;
  leftBasis: np.Array | null;
  rightBasis: np.Array | null;
  /** Adam's moments, in the eigenbasis. */
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

/** Qₗᵀ x Qᵣ (borrows the bases, consumes x). */
function toBasis(x: np.Array, left: np.Array | null, right: np.Array | null): np.Array {
  if (left) x = np.matmul(left.ref.transpose(), x);
  if (right) x = np.matmul(x, right.ref);
  return x;
}

/** Qₗ x Qᵣᵀ (borrows the bases, consumes x). */
function fromBasis(x: np.Array, left: np.Array | null, right: np.Array | null): np.Array {
  if (left) x = np.matmul(left.ref, x);
  if (right) x = np.matmul(x, right.ref.transpose());
  return x;
}

const eigenvectors = (stat: np.Array | null): np.Array | null => {
  if (stat === null) return null;
  const [values, vectors] = symmetricEigen(stat.ref);
  values.dispose();
  return vectors;
};

/**
 * One power iteration + QR for the basis of one side (axis 0: left, 1: right); returns the new
 * basis and the second moment permuted like its columns. Consumes basis and nu; borrows stat.
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
  normalizeGrads: boolean;
  correctBias: boolean;
}): GradientTransformation<SoapState> {
  const side = (n: number) => (n <= o.maxPrecondDim ? np.zeros([n, n]) : null);
  return {
    init(params) {
      const leaves: Record<string, SoapLeaf> = {};
      tree.walk(params, (p: np.Array, path) => {
        const [rows, cols] = matrixShape(p.shape, "soap", path);
        leaves[path] = {
          left: side(rows),
          right: side(cols),
          leftBasis: null,
          rightBasis: null,
          mu: np.zeros([rows, cols]),
          nu: np.zeros([rows, cols]),
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
      const updateStatistics = (s: SoapLeaf, g: np.Array) => ({
        left: s.left && ema(s.left, np.matmul(g.ref, g.ref.transpose()), o.shampooBeta),
        right: s.right && ema(s.right, np.matmul(g.ref.transpose(), g.ref), o.shampooBeta),
      });
      const step = (grad: np.Array, path: string, param?: np.Array): np.Array => {
        const s = state.leaves[path];
        const shape = grad.shape;
        const g = asMatrix(grad, "soap", path);
        if (t === 0) {
          // First call: statistics and eigenbases only; no step (the authors' choice, so that the
          // current gradient is never used in its own projection).
          const { left, right } = updateStatistics(s, g);
          g.dispose();
          param?.dispose();
          leaves[path] = {
            ...s,
            left,
            right,
            leftBasis: eigenvectors(left),
            rightBasis: eigenvectors(right),
          };
          return np.zeros(shape);
        }
        const projected = toBasis(g.ref, s.leftBasis, s.rightBasis);
        let mu = ema(s.mu, projected.ref, o.b1);
        let nu = emaSquare(s.nu, projected, o.b2);
        let direction = fromBasis(
          mu.ref.div(np.sqrt(nu.ref).add(o.eps)),
          s.leftBasis,
          s.rightBasis,
        );
        if (o.normalizeGrads) {
          direction = direction.ref.div(np.sqrt(direction.ref.mul(direction).mean()).add(1e-30));
        }
        const stepSize = o.correctBias
          ? (lr * Math.sqrt(biasCorrection(o.b2, t))) / biasCorrection(o.b1, t)
          : lr;
        // p' = p − stepSize·N, then p' ← p'·(1 − η·λ) (the decay after the step).
        let out = direction.mul(-stepSize);
        if (o.weightDecay > 0) {
          out = stepThenDecay(out, asMatrix(param!, "soap", path), lr * o.weightDecay);
        } else param?.dispose();

        // Update the preconditioner after the step (the authors' order).
        const { left, right } = updateStatistics(s, g);
        g.dispose();
        let { leftBasis, rightBasis } = s;
        if (t % o.precondFrequency === 0) {
          const original = fromBasis(mu, leftBasis, rightBasis);
          if (left && leftBasis) [leftBasis, nu] = refreshBasis(left, leftBasis, nu, 0);
          if (right && rightBasis) [rightBasis, nu] = refreshBasis(right, rightBasis, nu, 1);
          mu = toBasis(original, leftBasis, rightBasis);
        }
        leaves[path] = { left, right, leftBasis, rightBasis, mu, nu };
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
