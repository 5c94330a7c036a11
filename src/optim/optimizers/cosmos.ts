/**
 * cosmos — COSMOS (Liu et al. 2025, arXiv:2502.17410): SOAP-like Adam on the leading eigen-subspace
 * of Gᵀ G (rank r, tracked cheaply), Muon's Newton–Schulz on the rest. For a matrix leaf G
 * (m × n, ≥3-D leaves viewed as (out, −1)) at step t, with r = min(rank, n):
 *   M ← β1·M + G                                      (a plain sum of decayed gradients)
 *   t = 1: P = top-r eigenvectors of Gᵀ G (n × r),  S = (1 − β2)·(GP)ᵀ(GP)
 *   t > 1: P' = QR(β2·P S + (1 − β2)·Gᵀ G P),  T = Pᵀ P',
 *          S ← β2·Tᵀ S T + (1 − β2)·(GP')ᵀ(GP'),  P ← P'   (S tracks Pᵀ·EMA(GᵀG)·P)
 *   V ← β2·V + (1 − β2)·(G P)²                        (m × r, Adam's second moment in the subspace)
 *   Ĝ = (G + β1·M) / (1 + β1·(1 − β1ᵗ)/(1 − β1))     (a Nesterov-style blend)
 *   A = ((Ĝ P) / (√V/√(1 − β2ᵗ) + ε)) Pᵀ + 0.2·√(mn)·O/‖O‖_F,   O = NS5(Ĝ − Ĝ P Pᵀ)
 *   p ← p·(1 − η·λ) − η·ratio·√(mn)·A/(‖A‖_F + ε)
 *
 * Reference: lliu606/COSMOS COSMOS_optim.py (`cosmos`, class COSMOS), checked against
 * tools/fixtures/matrix_optimizers.py (test/optim/matrix.test.ts).
 * Deviations: Newton–Schulz in float32 (the authors: bfloat16); the first subspace comes from a
 * float64 eigendecomposition of Gᵀ G (the authors: its SVD, the same vectors) and the QR from
 * Householder in float64 on the host (src/linalg/qr.ts): both equal the authors' up
 * to column signs, which COSMOS does not depend on (S and V transform with them). rank is capped
 * at n (the authors' code fails for rank > n); ≥3-D leaves are viewed as (out, −1), and the
 * authors' rule sending matrices with more than 10000 rows to Adam is left to `isMatrix`.
 * Non-matrix leaves go to AdamW with COSMOS's lr, b1, b2, eps and weightDecay (the authors' own
 * 1-D branch is that Adam with b1 fixed at 0.9).
 */
import { numpy as np } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import { symmetricEigen } from "../../linalg/matrix-functions.js";
import { frobeniusNorm, orthogonalizeJit } from "../../linalg/newton-schulz.js";
import { orthonormalize } from "../../linalg/qr.js";
import {
  chain,
  type GradientTransformation,
  type LeafSpec,
  type ScalarOrSchedule,
} from "../core.js";
import { asMatrix, matrixOrFallback, matrixShape } from "../transforms/matrix-partition.js";
import { biasCorrection, emaSquare } from "../transforms/moments.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { type AdamWOptions, adamOptions, adamw } from "./adam.js";

/** Options of {@link scaleByCosmos}. */
export interface ScaleByCosmosOptions {
  b1?: number;
  b2?: number;
  eps?: number;
  /** Rank of the Adam subspace (capped at each matrix's number of columns). */
  rank?: number;
  /** The step's RMS relative to η (the authors' lr_ratio). */
  lrRatio?: number;
}

/**
 * Options of {@link cosmos}: COSMOS's, plus the learning rate, weight decay and the AdamW used for
 * non-matrix leaves.
 */
export interface CosmosOptions extends ScaleByCosmosOptions {
  learningRate?: ScalarOrSchedule;
  /** Decoupled: p ← p·(1 − η·λ). */
  weightDecay?: number;
  adamw?: AdamWOptions;
  isMatrix?: LeafSpec<boolean>;
}

interface CosmosLeaf {
  mu: np.Array;
  /** Second moment of G P (m × r). */
  nu: np.Array;
  /** Orthonormal basis of the subspace (n × r) and the statistic projected on it (r × r). */
  basis: np.Array;
  projected: np.Array;
}

/**
 * COSMOS's state: the step count and, per matrix leaf, the momentum, the tracked subspace basis and
 * the statistics on it.
 */
export interface CosmosState {
  count: number;
  leaves: Record<string, CosmosLeaf>;
}

/** COSMOS's normalised direction for matrix leaves (no learning rate, no weight decay). */
export function scaleByCosmos(
  options: ScaleByCosmosOptions = {},
): GradientTransformation<CosmosState> {
  const { b1 = 0.9, b2 = 0.999, eps = 1e-8, rank = 64, lrRatio = 0.1 } = options;
  return {
    init(params) {
      const leaves: Record<string, CosmosLeaf> = {};
      tree.walk(params, (p: np.Array, path) => {
        const [rows, cols] = matrixShape(p.shape, "cosmos", path);
        const r = Math.min(rank, cols);
        leaves[path] = {
          mu: np.zeros([rows, cols]),
          nu: np.zeros([rows, r]),
          basis: np.zeros([cols, r]),
          projected: np.zeros([r, r]),
        };
      });
      tree.dispose(params);
      return { count: 0, leaves };
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const t = state.count + 1;
      // (1 − β1ᵗ)/(1 − β1): the total weight in M.
      const weight = biasCorrection(b1, t) / (1 - b1);
      const leaves: Record<string, CosmosLeaf> = {};
      const out = tree.mapWithPath((grad: np.Array, path) => {
        const s = state.leaves[path];
        const shape = grad.shape;
        const g = asMatrix(grad, "cosmos", path);
        const [rows, cols] = g.shape;
        const r = s.basis.shape[1];
        const mu = s.mu.mul(b1).add(g.ref);
        let basis: np.Array;
        let projected: np.Array;
        if (t === 1) {
          const [values, vectors] = symmetricEigen(np.matmul(g.ref.transpose(), g.ref));
          values.dispose();
          s.basis.dispose();
          s.projected.dispose();
          basis = vectors.slice([], [0, r]);
          const low = np.matmul(g.ref, basis.ref);
          projected = np.matmul(low.ref.transpose(), low).mul(1 - b2);
        } else {
          const power = np
            .matmul(s.basis.ref, s.projected.ref)
            .mul(b2)
            .add(np.matmul(g.ref.transpose(), np.matmul(g.ref, s.basis.ref)).mul(1 - b2));
          basis = orthonormalize(power);
          const turn = np.matmul(s.basis.transpose(), basis.ref);
          const low = np.matmul(g.ref, basis.ref);
          projected = np
            .matmul(turn.ref.transpose(), np.matmul(s.projected, turn))
            .mul(b2)
            .add(np.matmul(low.ref.transpose(), low).mul(1 - b2));
        }
        const nu = emaSquare(s.nu, np.matmul(g.ref, basis.ref), b2);
        const blended = g.add(mu.ref.mul(b1)).div(1 + b1 * weight);
        const inSubspace = np.matmul(blended.ref, basis.ref);
        const denom = np
          .sqrt(nu.ref)
          .div(Math.sqrt(biasCorrection(b2, t)))
          .add(eps);
        const adamPart = np.matmul(inSubspace.ref.div(denom), basis.ref.transpose());
        const rest = blended.sub(np.matmul(inSubspace, basis.ref.transpose()));
        const orthogonal = orthogonalizeJit(rest, 5);
        const scale = Math.sqrt(rows * cols);
        const muonPart = orthogonal.ref.div(frobeniusNorm(orthogonal).add(eps)).mul(0.2 * scale);
        const both = adamPart.add(muonPart);
        const direction = both.ref.div(frobeniusNorm(both).add(eps)).mul(lrRatio * scale);
        leaves[path] = { mu, nu, basis, projected };
        return direction.reshape(shape);
      }, updates);
      return [out, { count: t, leaves }];
    },
  };
}

/** The authors' COSMOS defaults (the learning rate, 1e-3, apart). */
export const COSMOS_DEFAULTS = {
  b1: 0.9,
  b2: 0.999,
  eps: 1e-8,
  rank: 64,
  lrRatio: 0.1,
  weightDecay: 0,
} as const;

/**
 * COSMOS (Liu et al. 2025): SOAP-like Adam on the leading eigen-subspace of each matrix, Muon on
 * its complement; other leaves go to AdamW.
 */
export function cosmos(options: CosmosOptions = {}) {
  check.knownOptions("cosmos", options, [
    ...Object.keys(COSMOS_DEFAULTS),
    "learningRate",
    "adamw",
    "isMatrix",
  ]);
  const o = { ...COSMOS_DEFAULTS, ...options };
  const learningRate = check.learningRate(o.learningRate ?? 1e-3);
  const weightDecay = check.nonNegative("weightDecay", o.weightDecay);
  const resolved = {
    ...adamOptions(o),
    rank: check.integer("rank", o.rank, 1),
    lrRatio: check.positive("lrRatio", o.lrRatio),
  };
  const matrices = chain(
    scaleByCosmos(resolved),
    ...optionalDecay(weightDecay),
    scaleByLearningRate(learningRate),
  );
  const fallback = adamw({
    learningRate,
    b1: resolved.b1,
    b2: resolved.b2,
    eps: resolved.eps,
    weightDecay,
    ...o.adamw,
  });
  return matrixOrFallback(matrices, fallback, o.isMatrix);
}
