/**
 * psgdKron — PSGD with a Kronecker-factored preconditioner (Li 2018, "Preconditioned stochastic
 * gradient descent", arXiv:1512.04202; the "Kron" optimizer of evanatyourservice/kron_torch,
 * after lixilinx/psgd_torch). For a matrix leaf with gradient G (m × n; ≥3-D leaves viewed as
 * (out, −1)) at step t:
 *   μ ← b1·μ + (1 − b1)·G,   M = μ / (1 − b1ᵗ)
 *   on preconditioner-update steps, with V ~ N(0, 1) of G's shape:
 *     A = Q_L M Q_Rᵀ,   B = Q_L⁻ᵀ V Q_R⁻¹                       (triangular solves)
 *     Q_L ← Q_L − η_p·triu(AAᵀ − BBᵀ)·Q_L / ‖AAᵀ + BBᵀ‖₂↓          (‖·‖₂↓: cheap lower bound
 *     Q_R ← Q_R − η_p·triu(AᵀA − BᵀB)·Q_R / ‖AᵀA + BᵀB‖₂↓           of the spectral norm)
 *     (a side longer than maxSizeTriangular keeps a diagonal Q: q ← q − η_p·(a − b)·q / max|a + b|,
 *      with a, b the row (column) sums of A², B²)
 *   P = Q_Lᵀ Q_L · M · Q_Rᵀ Q_R,   P ← P·min(1, 1.1 / (rms(P) + 1e-6))
 *   p ← p − η·(P + λ·p)
 * Q_L, Q_R start as √s·I (s = precondInitScale), η_p = precondLr (0.1 in kron_torch).
 *
 * Reference: kron_torch kron.py (`Kron.step`, `init_Q_exprs`, `_update_precond`,
 * `_norm_lower_bound`, `_precond_grad`; read, not copied), checked against
 * tools/fixtures/psgd_kron.py (test/optim/psgd-kron.test.ts).
 * Deviations: no randomness except V. The preconditioner is updated on step t when
 * ⌈t·p⌉ > ⌈(t − 1)·p⌉ (p = precondUpdateProb: every step for p = 1, the same mean rate as
 * kron_torch's coin flips otherwise, first step included), with a constant p instead of
 * kron_torch's annealed schedule, and without its occasional random rebalancing of the factors'
 * norms. V comes from a seeded xoshiro128** stream (src/data/rng.ts) through Box–Muller, drawn
 * row-major leaf by leaf, whose four state words live in the optimizer state (checkpointable,
 * reproduced by the Python reference). The update is clipped to RMS 1.1 as in earlier kron_torch
 * releases (the current one uses a smooth trust region instead). The spectral-norm lower bound
 * takes the column branch only (its arguments are symmetric, so both branches agree).
 * Non-matrix leaves go to AdamW (lr and b1 shared, no weight decay, as kron_torch decays only
 * ≥2-D leaves), overridable by the `adamw` option; kron_torch gives them diagonal preconditioners.
 */
import { lax, numpy as np } from "@jax-js/jax";
import { Xoshiro128 } from "../../engine/rng.js";
import * as tree from "../../engine/tree.js";
import {
  chain,
  type GradientTransformation,
  type LeafSpec,
  type ScalarOrSchedule,
} from "../core.js";
import { asMatrix, matrixOrFallback, matrixShape } from "../transforms/matrix-partition.js";
import { biasCorrection, ema } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { type AdamWOptions, adamw } from "./adam.js";

/** Options of {@link scaleByPsgdKron}. */
export interface ScaleByPsgdKronOptions {
  /** Momentum (bias-corrected exponential average of gradients); 0 for none. */
  b1?: number;
  /** Step size of the preconditioner fit. */
  precondLr?: number;
  /** Q_L Q_R start as √s·I, so the initial preconditioner is s·I. */
  precondInitScale?: number;
  /** Mean fraction of steps that update the preconditioner (deterministic, see header). */
  precondUpdateProb?: number;
  /** Sides longer than this keep a diagonal factor. */
  maxSizeTriangular?: number;
  /** Seed of the stream of random probe vectors V. */
  seed?: number;
}

/** Options of {@link psgdKron}: the preconditioner's, plus the learning rate and weight decay. */
export interface PsgdKronOptions extends ScaleByPsgdKronOptions {
  learningRate?: ScalarOrSchedule;
  /** Decoupled: p ← p − η·λ·p. */
  weightDecay?: number;
  adamw?: AdamWOptions;
  isMatrix?: LeafSpec<boolean>;
}

interface KronLeaf {
  /** Upper-triangular m × m factor, or its diagonal (length m). */
  left: np.Array;
  right: np.Array;
  momentum: np.Array;
}

/**
 * PSGD-Kron's state: the step count, the random state of the probes, and per leaf the two Kronecker
 * factors and the momentum.
 */
export interface PsgdKronState {
  count: number;
  /** xoshiro128** state words of the probe-vector stream. */
  rng: number[];
  leaves: Record<string, KronLeaf>;
}

/** Update limit on the RMS of the preconditioned momentum (kron_torch's 1.1). */
const MAX_RMS = 1.1;
/** bfloat16's smallest normal (kron_torch's `tiny`), guarding divisions. */
const TINY = 2 ** -126;

/** `count` standard normals: xoshiro128** words through Box–Muller, pairs (cos, sin). */
export function boxMullerNormals(rng: Xoshiro128, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u1 = (rng.nextUint32() + 1) / 2 ** 32;
    const u2 = rng.nextUint32() / 2 ** 32;
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** Whether step t (1-based) updates the preconditioner, for mean rate p. */
export const updatesPreconditioner = (t: number, p: number): boolean =>
  Math.ceil(t * p) > Math.ceil((t - 1) * p);

/**
 * Cheap lower bound of the spectral norm of a symmetric matrix (kron_torch `_norm_lower_bound`):
 * with S scaled by its largest |entry|, take its column of largest norm c and return
 * ‖S (Sc/‖Sc‖)‖. Consumes s.
 */
export function spectralNormLowerBound(s: np.Array): np.Array {
  const n = s.shape[0];
  const maxAbs = np.abs(s.ref).max();
  const scaled = s.div(np.maximum(maxAbs.ref, TINY));
  const colNorms = scaled.ref.mul(scaled.ref).sum(0);
  const pick = np.equal(np.arange(n), np.argmax(colNorms)).astype(np.float32).reshape([n, 1]);
  const column = np.matmul(scaled.ref, pick); // n × 1
  const x = np.matmul(column.transpose(), scaled.ref); // 1 × n
  const unit = x.ref.div(np.maximum(np.sqrt(x.ref.mul(x).sum()), TINY));
  const y = np.matmul(unit, scaled.transpose());
  return np.sqrt(y.ref.mul(y).sum()).mul(maxAbs);
}

/** Q·X for a factor Q (matrix, or diagonal as a vector) acting on the rows of X. Consumes both. */
const leftMul = (q: np.Array, x: np.Array): np.Array =>
  q.ndim === 2 ? np.matmul(q, x) : q.reshape([q.shape[0], 1]).mul(x);

/** X·Qᵀ for a factor Q acting on the columns of X. Consumes both. */
const rightMulT = (x: np.Array, q: np.Array): np.Array =>
  q.ndim === 2 ? np.matmul(x, q.transpose()) : x.mul(q.reshape([1, q.shape[0]]));

/** One factor's fit step from its statistics a = A-side, b = B-side (both consumed). */
function fitFactor(q: np.Array, a: np.Array, b: np.Array, precondLr: number): np.Array {
  const diff = a.ref.sub(b.ref);
  const total = a.add(b);
  if (q.ndim === 1) {
    const norm = np.abs(total).max().add(TINY);
    return q.ref.sub(diff.mul(q).mul(precondLr).div(norm));
  }
  const norm = spectralNormLowerBound(total).add(TINY);
  const step = np.triu(diff).mul(precondLr).div(norm);
  return q.ref.sub(np.matmul(step, q));
}

/**
 * Fit Q_L, Q_R to the pair (V, M) (kron_torch `_update_precond` for a matrix). Consumes the
 * factors, m and v; returns the new factors.
 */
function updatePreconditioner(
  left: np.Array,
  right: np.Array,
  m: np.Array,
  v: np.Array,
  precondLr: number,
): [np.Array, np.Array] {
  const a = rightMulT(leftMul(left.ref, m), right.ref);
  // B = Q_L⁻ᵀ V Q_R⁻¹: solve Q_Lᵀ Y = V, then X Q_R = Y.
  const y =
    left.ndim === 2
      ? lax.linalg.triangularSolve(left.ref, v, { leftSide: true, lower: false, transposeA: true })
      : v.div(left.ref.reshape([left.shape[0], 1]));
  const b =
    right.ndim === 2
      ? lax.linalg.triangularSolve(right.ref, y, { leftSide: false, lower: false })
      : y.div(right.ref.reshape([1, right.shape[0]]));
  const rowStats = (x: np.Array) =>
    left.ndim === 2 ? np.matmul(x.ref, x.ref.transpose()) : x.ref.mul(x.ref).sum(1);
  const colStats = (x: np.Array) =>
    right.ndim === 2 ? np.matmul(x.ref.transpose(), x.ref) : x.ref.mul(x.ref).sum(0);
  const [aL, bL, aR, bR] = [rowStats(a), rowStats(b), colStats(a), colStats(b)];
  a.dispose();
  b.dispose();
  const newLeft = fitFactor(left, aL, bL, precondLr);
  const newRight = fitFactor(right, aR, bR, precondLr);
  return [newLeft, newRight];
}

/** P = Q_Lᵀ Q_L · M · Q_Rᵀ Q_R. Borrows the factors, consumes m. */
function precondition(left: np.Array, right: np.Array, m: np.Array): np.Array {
  const l =
    left.ndim === 2
      ? np.matmul(left.ref.transpose(), np.matmul(left.ref, m))
      : leftMul(left.ref.mul(left.ref), m);
  return right.ndim === 2
    ? np.matmul(np.matmul(l, right.ref.transpose()), right.ref)
    : rightMulT(l, right.ref.mul(right.ref));
}

/** PSGD-Kron's preconditioned direction for matrix leaves (no learning rate, no weight decay). */
export function scaleByPsgdKron(
  options: ScaleByPsgdKronOptions = {},
): GradientTransformation<PsgdKronState> {
  const {
    b1 = 0.9,
    precondLr = 0.1,
    precondInitScale = 1,
    precondUpdateProb = 1,
    maxSizeTriangular = 8192,
    seed = 5318008,
  } = options;
  const factor = (n: number) =>
    n > maxSizeTriangular
      ? np.full([n], Math.sqrt(precondInitScale))
      : np.eye(n).mul(Math.sqrt(precondInitScale));
  return {
    init(params) {
      const leaves: Record<string, KronLeaf> = {};
      tree.walk(params, (p: np.Array, path) => {
        const [rows, cols] = matrixShape(p.shape, "psgdKron", path);
        leaves[path] = {
          left: factor(rows),
          right: factor(cols),
          momentum: np.zeros([rows, cols]),
        };
      });
      tree.dispose(params);
      return { count: 0, rng: Xoshiro128.fromSeed(seed).state(), leaves };
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const t = state.count + 1;
      const refit = updatesPreconditioner(t, precondUpdateProb);
      const rng = new Xoshiro128(state.rng);
      const leaves: Record<string, KronLeaf> = {};
      const out = tree.mapWithPath((grad: np.Array, path) => {
        const s = state.leaves[path];
        const shape = grad.shape;
        const g = asMatrix(grad, "psgdKron", path);
        const momentum = ema(s.momentum, g, b1);
        const m = momentum.ref.div(biasCorrection(b1, t));
        let { left, right } = s;
        if (refit) {
          const [rows, cols] = m.shape;
          const v = np.array(boxMullerNormals(rng, rows * cols)).reshape([rows, cols]);
          [left, right] = updatePreconditioner(left, right, m.ref, v, precondLr);
        }
        leaves[path] = { left, right, momentum };
        const p = precondition(left, right, m);
        const rms = np.sqrt(p.ref.mul(p.ref).mean());
        const clip = np.minimum(np.divide(MAX_RMS, rms.add(1e-6)), 1);
        return p.mul(clip).reshape(shape);
      }, updates);
      return [out, { count: t, rng: rng.state(), leaves }];
    },
  };
}

/** kron_torch's defaults (the learning rate, 1e-3, apart). */
export const PSGD_KRON_DEFAULTS = {
  b1: 0.9,
  precondLr: 0.1,
  precondInitScale: 1,
  precondUpdateProb: 1,
  maxSizeTriangular: 8192,
  seed: 5318008,
  weightDecay: 0,
} as const;

/**
 * PSGD with a Kronecker-factored preconditioner (Li 2018; kron_torch's "Kron"): the factors are
 * fitted by gradient steps on random probes.
 */
export function psgdKron(options: PsgdKronOptions = {}) {
  check.knownOptions("psgdKron", options, [
    ...Object.keys(PSGD_KRON_DEFAULTS),
    "learningRate",
    "adamw",
    "isMatrix",
  ]);
  const o = { ...PSGD_KRON_DEFAULTS, ...options };
  const learningRate = check.learningRate(o.learningRate ?? 1e-3);
  const { b1 } = check.adamOptions({ b1: o.b1 });
  const precondUpdateProb = o.precondUpdateProb;
  if (typeof precondUpdateProb !== "number" || !(precondUpdateProb > 0 && precondUpdateProb <= 1)) {
    throw new RangeError(`precondUpdateProb must be in (0, 1], got ${precondUpdateProb}`);
  }
  const seed = o.seed;
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
  const direction = scaleByPsgdKron({
    b1,
    precondLr: check.positive("precondLr", o.precondLr),
    precondInitScale: check.positive("precondInitScale", o.precondInitScale),
    precondUpdateProb,
    maxSizeTriangular: check.integer("maxSizeTriangular", o.maxSizeTriangular, 1),
    seed,
  });
  const matrices = chain(
    direction,
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    scaleByLearningRate(learningRate),
  );
  const fallback = adamw({ learningRate, b1, weightDecay: 0, ...o.adamw });
  return matrixOrFallback(matrices, fallback, o.isMatrix);
}
