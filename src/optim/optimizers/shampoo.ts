/**
 * shampoo — Shampoo (Gupta et al. 2018) with layer-wise grafting (Anil et al. 2020, "Scalable
 * second order optimization for deep learning"), in the form described for distributed Shampoo
 * by Shi et al. 2023: the momentum is preconditioned, and the step takes its size from the graft.
 * For a matrix leaf G at step t (≥3-D leaves viewed as (out, −1)):
 *   L ← β2·L + (1 − β2)·G Gᵀ,  R ← β2·R + (1 − β2)·Gᵀ G        (β2 = 1: L ← L + G Gᵀ, the paper's sums)
 *   every `precondFrequency` steps from `startPrecondStep`:
 *     P_L = (L/c2 + ε·λmax·I)^(−1/4),  P_R likewise              (c2 = 1 − β2ᵗ, 1 for sums; eigh)
 *   m ← β1·m + (1 − β1)·G,  m̂ = m/(1 − β1ᵗ)                       (β1 = 0: m̂ = G)
 *   graft "adam": v ← β2·v + (1 − β2)·G², D = m̂/(√(v/c2) + graftEps);  "sgd": D = m̂
 *   S = P_L m̂ P_R,  S ← S·‖D‖_F/‖S‖_F (not for graft "none");  S = D before the first roots
 *   p ← p − η·(S + λ·p)
 * Sides longer than `maxPrecondDim` are not preconditioned (P = I). With `blockSize` > 0, matrices
 * with a side longer than blockSize are cut into blocks of at most blockSize × blockSize, each
 * preconditioned and grafted on its own (distributed Shampoo's blocking; transforms/blocked.ts).
 *
 * Reference: written from the papers (no single authors' code has this form; google-research's
 * PyTorch scalable_shampoo was read), checked against tools/fixtures/matrix_optimizers.py
 * (test/optim/matrix.test.ts), which follows the same equations.
 * Deviations from scalable_shampoo: inverse roots by a float64 eigendecomposition
 * (linalg/matrix-functions.ts) instead of a coupled Newton iteration; blocking is off by default
 * (long sides are left unpreconditioned instead; blockSize turns it on); ≥3-D leaves are viewed as (out, −1)
 * rather than given one preconditioner per dimension; non-matrix leaves go to AdamW (Shampoo's lr,
 * b1, b2 (0.999 for sums), graftEps as eps, weightDecay) rather than to a diagonal preconditioner.
 */
import { numpy as np } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import { inverseRoot } from "../../linalg/matrix-functions.js";
import { frobeniusNorm } from "../../linalg/newton-schulz.js";
import {
  chain,
  type GradientTransformation,
  type LeafSpec,
  type ScalarOrSchedule,
} from "../core.js";
import { blocked } from "../transforms/blocked.js";
import { asMatrix, matrixOrFallback, matrixShape } from "../transforms/matrix-partition.js";
import { biasCorrection, ema } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { type AdamWOptions, adamw } from "./adam.js";

/**
 * Where Shampoo takes each step's size from: Adam's, SGD's, or none (the raw preconditioned step).
 */
export type ShampooGraft = "adam" | "sgd" | "none";

/** Options of {@link scaleByShampoo}. */
export interface ScaleByShampooOptions {
  /** Momentum (exponential average of gradients); 0 for none. */
  b1?: number;
  /** Decay of the statistics and of the Adam graft's second moment; 1 sums them. */
  b2?: number;
  /** Ridge added before the root, relative to the largest eigenvalue. */
  matrixEps?: number;
  precondFrequency?: number;
  /** First step (1-based) that uses the preconditioner (default: precondFrequency). */
  startPrecondStep?: number;
  graft?: ShampooGraft;
  graftEps?: number;
  maxPrecondDim?: number;
}

/** Options of {@link shampoo}: Shampoo's, plus the learning rate and weight decay. */
export interface ShampooOptions extends ScaleByShampooOptions {
  learningRate?: ScalarOrSchedule;
  /** Decoupled: p ← p − η·λ·p. */
  weightDecay?: number;
  /** Cut sides longer than this into blocks preconditioned apart; 0: no blocking. */
  blockSize?: number;
  adamw?: AdamWOptions;
  isMatrix?: LeafSpec<boolean>;
}

interface ShampooLeaf {
  left: np.Array | null;
  right: np.Array | null;
  /** Inverse fourth roots; null until first computed (and for a side without statistics). */
  leftRoot: np.Array | null;
  rightRoot: np.Array | null;
  mu: np.Array | null;
  nu: np.Array | null;
}

/**
 * Shampoo's state: the step count and, per leaf, the momentum, the Kronecker statistics, their
 * inverse roots and the graft's state.
 */
export interface ShampooState {
  count: number;
  leaves: Record<string, ShampooLeaf>;
}

/**
 * The defaults (the learning rate, 1e-3, apart): Adam's betas, refresh every 10 steps, Adam
 * grafting. startPrecondStep, unset, is precondFrequency.
 */
export const SHAMPOO_DEFAULTS = {
  b1: 0.9,
  b2: 0.999,
  matrixEps: 1e-6,
  precondFrequency: 10,
  startPrecondStep: undefined as number | undefined,
  graft: "adam" as ShampooGraft,
  graftEps: 1e-8,
  maxPrecondDim: 1024,
  weightDecay: 0,
  blockSize: 0,
} as const;

/** Shampoo's grafted direction for matrix leaves (no learning rate, no weight decay). */
export function scaleByShampoo(
  options: ScaleByShampooOptions = {},
): GradientTransformation<ShampooState> {
  const { b1, b2, matrixEps, precondFrequency, graft, graftEps, maxPrecondDim, startPrecondStep } =
    { ...SHAMPOO_DEFAULTS, ...options };
  const start = startPrecondStep ?? precondFrequency;
  const [keep, add] = b2 === 1 ? [1, 1] : [b2, 1 - b2];
  const side = (n: number) => (n <= maxPrecondDim ? np.zeros([n, n]) : null);
  /** keep·stat + add·fresh (an EMA, or a sum when β2 = 1); null stays null. Consumes stat. */
  const accumulate = (stat: np.Array | null, fresh: () => np.Array) =>
    stat ? stat.mul(keep).add(fresh().mul(add)) : null;
  return {
    init(params) {
      const leaves: Record<string, ShampooLeaf> = {};
      tree.walk(params, (p: np.Array, path) => {
        const [rows, cols] = matrixShape(p.shape, "shampoo", path);
        leaves[path] = {
          left: side(rows),
          right: side(cols),
          leftRoot: null,
          rightRoot: null,
          mu: b1 > 0 ? np.zeros([rows, cols]) : null,
          nu: graft === "adam" ? np.zeros([rows, cols]) : null,
        };
      });
      tree.dispose(params);
      return { count: 0, leaves };
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const t = state.count + 1;
      const c2 = b2 === 1 ? 1 : biasCorrection(b2, t);
      const refresh = t >= start && (t - start) % precondFrequency === 0;
      const leaves: Record<string, ShampooLeaf> = {};
      const out = tree.mapWithPath((grad: np.Array, path) => {
        const s = state.leaves[path];
        const shape = grad.shape;
        const g = asMatrix(grad, "shampoo", path);
        const left = accumulate(s.left, () => np.matmul(g.ref, g.ref.transpose()));
        const right = accumulate(s.right, () => np.matmul(g.ref.transpose(), g.ref));
        const mu = s.mu ? ema(s.mu, g.ref, b1) : null;
        const momentum = mu ? mu.ref.div(biasCorrection(b1, t)) : g.ref;
        const nu = accumulate(s.nu, () => g.ref.mul(g.ref));
        g.dispose();
        const graftDirection = nu
          ? momentum.ref.div(np.sqrt(nu.ref.div(c2)).add(graftEps))
          : momentum.ref;
        let { leftRoot, rightRoot } = s;
        if (refresh) {
          leftRoot?.dispose();
          rightRoot?.dispose();
          leftRoot = left && inverseRoot(left.ref.div(c2), 4, matrixEps);
          rightRoot = right && inverseRoot(right.ref.div(c2), 4, matrixEps);
        }
        leaves[path] = { left, right, leftRoot, rightRoot, mu, nu };
        if (t < start) {
          // No roots yet (the first ones are computed at step `start`): the graft's direction.
          momentum.dispose();
          return graftDirection.reshape(shape);
        }
        let direction = momentum;
        if (leftRoot) direction = np.matmul(leftRoot.ref, direction);
        if (rightRoot) direction = np.matmul(direction, rightRoot.ref);
        if (graft === "none") {
          graftDirection.dispose();
        } else {
          const factor = frobeniusNorm(graftDirection).div(frobeniusNorm(direction.ref).add(1e-16));
          direction = direction.mul(factor);
        }
        return direction.reshape(shape);
      }, updates);
      return [out, { count: t, leaves }];
    },
  };
}

/**
 * Shampoo (Gupta et al. 2018) with layer-wise grafting (Anil et al. 2020): momentum preconditioned
 * by inverse fourth roots of the Kronecker statistics, sized by the graft.
 */
export function shampoo(options: ShampooOptions = {}) {
  check.knownOptions("shampoo", options, [
    ...Object.keys(SHAMPOO_DEFAULTS),
    "learningRate",
    "adamw",
    "isMatrix",
  ]);
  const d = { ...SHAMPOO_DEFAULTS, ...options };
  const learningRate = check.learningRate(d.learningRate ?? 1e-3);
  const { b1 } = check.adamOptions({ b1: d.b1 }); // b2 may be 1 here (a sum), checked below
  const b2 = d.b2;
  if (typeof b2 !== "number" || !(b2 > 0 && b2 <= 1)) {
    throw new RangeError(`b2 must be in (0, 1] (1 sums the statistics), got ${b2}`);
  }
  const precondFrequency = check.integer("precondFrequency", d.precondFrequency, 1);
  const o: ScaleByShampooOptions = {
    b1,
    b2,
    matrixEps: check.nonNegative("matrixEps", d.matrixEps),
    precondFrequency,
    startPrecondStep: check.integer("startPrecondStep", d.startPrecondStep ?? precondFrequency, 1),
    graft: check.oneOf<ShampooGraft>("graft", d.graft, ["adam", "sgd", "none"]),
    graftEps: check.nonNegative("graftEps", d.graftEps),
    maxPrecondDim: check.integer("maxPrecondDim", d.maxPrecondDim, 1),
  };
  const weightDecay = check.nonNegative("weightDecay", d.weightDecay);
  const blockSize = check.integer("blockSize", d.blockSize, 0);
  const matrices = chain(
    blockSize > 0 ? blocked(scaleByShampoo(o), blockSize) : scaleByShampoo(o),
    ...optionalDecay(weightDecay),
    scaleByLearningRate(learningRate),
  );
  const fallback = adamw({
    learningRate,
    b1,
    b2: b2 < 1 ? b2 : 0.999,
    eps: o.graftEps,
    weightDecay,
    ...d.adamw,
  });
  return matrixOrFallback(matrices, fallback, d.isMatrix);
}
