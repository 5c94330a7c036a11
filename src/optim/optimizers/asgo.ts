/**
 * asgo — Adaptive Structured Gradient Optimization (An et al. 2025, arXiv:2503.20762): one-sided
 * Shampoo, preconditioning only the smaller side of each matrix. For a matrix leaf G (m × n, ≥3-D
 * leaves viewed as (out, −1)):
 *   M ← μ·M + (1 − μ)·G
 *   m < n:  P ← β2·P + (1 − β2)·G Gᵀ (m × m),  U = P^(−1/2) M
 *   m ≥ n:  P ← β2·P + (1 − β2)·Gᵀ G (n × n),  U = M P^(−1/2)
 *   U ← 0.2·√(m·n)·U / ‖U‖_F                   (update RMS 0.2, as Moonshot's Muon)
 *   p ← p·(1 − η·λ) − η·U
 * P^(−1/2) comes from the authors' coupled PolarExpress iteration (linalg/newton-schulz.ts,
 * matmuls only); if it is not finite, the identity is used instead, as the authors do.
 *
 * Reference: infinity-stars/ASGO optimizers/asgo.py with `_matrix_inverse_root_PolarExpress`
 * (their default inv_method, matalg_steps 10) and the defaults of their asgo.yaml, checked against
 * tools/fixtures/matrix_optimizers.py (test/optim/matrix.test.ts).
 * Deviations: a zero update (all-zero momentum) stays zero instead of 0/0; the finite check is
 * done on the device, without the authors' warning. Non-matrix leaves (which the authors hand to a
 * separate AdamW) go to AdamW with Muon's auxiliary-Adam defaults (lr 3e-4, b1 0.9, b2 0.95,
 * eps 1e-10, no weight decay), overridden by `adamw`.
 */
import { numpy as np } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import { frobeniusNorm, inverseSqrtPolarExpressJit } from "../../linalg/newton-schulz.js";
import {
  chain,
  type GradientTransformation,
  type LeafSpec,
  type ScalarOrSchedule,
} from "../core.js";
import { asMatrix, matrixOrFallback, matrixShape } from "../transforms/matrix-partition.js";
import { ema } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { type AdamWOptions, adamw } from "./adam.js";
import { MUON_ADAMW_DEFAULTS } from "./muon.js";

/** Options of {@link scaleByAsgo}. */
export interface ScaleByAsgoOptions {
  momentum?: number;
  /** Decay of the one-sided statistic P. */
  b2?: number;
  /** Added to P only to normalise it before the iteration (the authors' `eps`). */
  eps?: number;
  /** PolarExpress iterations for P^(−1/2). */
  steps?: number;
}

/**
 * Options of {@link asgo}: ASGO's, plus the learning rate, weight decay and the AdamW used for
 * non-matrix leaves.
 */
export interface AsgoOptions extends ScaleByAsgoOptions {
  learningRate?: ScalarOrSchedule;
  /** Decoupled: p ← p·(1 − η·λ). */
  weightDecay?: number;
  adamw?: AdamWOptions;
  isMatrix?: LeafSpec<boolean>;
}

interface AsgoLeaf {
  mu: np.Array;
  /** The smaller side's statistic. */
  precond: np.Array;
}

/** ASGO's state: per matrix leaf, the momentum and the smaller side's statistic. */
export interface AsgoState {
  leaves: Record<string, AsgoLeaf>;
}

/** The authors' ASGO defaults (the learning rate, 1e-2, apart). */
export const ASGO_DEFAULTS = {
  momentum: 0.9,
  b2: 0.8,
  eps: 1e-10,
  steps: 10,
  weightDecay: 0.1,
} as const;

/** Rows < cols: precondition from the left (the smaller side); else from the right. */
const leftSided = (rows: number, cols: number) => rows < cols;

/** ASGO's normalised direction for matrix leaves (no learning rate, no weight decay). */
export function scaleByAsgo(options: ScaleByAsgoOptions = {}): GradientTransformation<AsgoState> {
  const { momentum, b2, eps, steps } = { ...ASGO_DEFAULTS, ...options };
  return {
    init(params) {
      const leaves: Record<string, AsgoLeaf> = {};
      tree.walk(params, (p: np.Array, path) => {
        const [rows, cols] = matrixShape(p.shape, "asgo", path);
        const d = leftSided(rows, cols) ? rows : cols;
        leaves[path] = { mu: np.zeros([rows, cols]), precond: np.zeros([d, d]) };
      });
      tree.dispose(params);
      return { leaves };
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const leaves: Record<string, AsgoLeaf> = {};
      const out = tree.mapWithPath((grad: np.Array, path) => {
        const s = state.leaves[path];
        const shape = grad.shape;
        const g = asMatrix(grad, "asgo", path);
        const [rows, cols] = g.shape;
        const left = leftSided(rows, cols);
        const mu = ema(s.mu, g.ref, momentum);
        const gram = left ? np.matmul(g.ref, g.transpose()) : np.matmul(g.ref.transpose(), g);
        const precond = ema(s.precond, gram, b2);
        leaves[path] = { mu, precond };
        let root = inverseSqrtPolarExpressJit(precond.ref, eps, steps);
        const eye = np.eye(root.shape[0]);
        root = np.where(np.isfinite(root.ref).all(), root, eye);
        const u = left ? np.matmul(root, mu.ref) : np.matmul(mu.ref, root);
        const norm = frobeniusNorm(u.ref);
        // 0.2·√(mn)/‖U‖, with 0/0 → 0 for an all-zero momentum.
        const factor = np.where(norm.ref.greater(0), np.reciprocal(np.maximum(norm, 1e-30)), 0);
        return u.mul(factor.mul(0.2 * Math.sqrt(rows * cols))).reshape(shape);
      }, updates);
      return [out, { leaves }];
    },
  };
}

/**
 * ASGO (An et al. 2025): one-sided Shampoo on the smaller side of each matrix; other leaves go to
 * AdamW.
 */
export function asgo(options: AsgoOptions = {}) {
  check.knownOptions("asgo", options, [
    ...Object.keys(ASGO_DEFAULTS),
    "learningRate",
    "adamw",
    "isMatrix",
  ]);
  const o = { ...ASGO_DEFAULTS, ...options };
  const direction = scaleByAsgo({
    momentum: check.unitInterval("momentum", o.momentum),
    ...check.adamOptions({ b2: o.b2, eps: o.eps }),
    steps: check.integer("steps", o.steps, 1),
  });
  const matrices = chain(
    direction,
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-2)),
  );
  return matrixOrFallback(matrices, adamw({ ...MUON_ADAMW_DEFAULTS, ...o.adamw }), o.isMatrix);
}
