/**
 * coap — COAP (Xiao et al. 2025, "COAP: Memory-Efficient Training with Correlation-Aware Gradient
 * Projection"), its AdamW: Adam on a rank-r projection of each matrix gradient, where the basis
 * is not recomputed from scratch but moved by a cheap correlation-aware update and only
 * occasionally re-fitted from the previous one. For a matrix leaf, oriented as g (dim × k: G for
 * m < n, Gᵀ for m ≥ n, so the basis Q, dim × r, spans the smaller side), at step t = 0, 1, …:
 *   t = 0:                 Q = top-r left singular vectors of g
 *   t mod Tu = 0, t mod Tu·F = 0:   Q = top-r left singular vectors of g·orth(gᵀQ)
 *                          (the authors' randomized range finder started from the previous basis)
 *   t mod Tu = 0 otherwise: Q ← Q − 0.1·clip₁(∇_Q L), with the authors' loss (eq. 5)
 *                          L = mean((QQᵀg − g)²) · (1 − mean cos(Q M, g))
 *                          (M the projected first moment, cos over the leaf's rows)
 *   R = Qᵀg;  m ← β1 m + (1−β1) R,  v ← β2 v + (1−β2) R²   (moments stay in their coordinates)
 *   W ← W − η α (√(1−β2ᵗ)/(1−β1ᵗ)) · Q (m / (√v + ε)),  then W ← W − ηλW
 * Other leaves: the same AdamW without projection. Singular vectors are sign-normalised (largest
 * entry positive), clip₁ is torch's clip_grad_norm_(max_norm=1).
 * Reference: the authors' COAP code (coap_torch: projection/coap_matrix.py MatrixCOAP.update_proj
 * and get_orthogonal_matrix, utils/orthogonal.py compute_orthogonal, the AdamW projector's
 * project with restore_state=False as they use for LLaMA; update_interval 32, reproject_factor 5,
 * eps 1e-6, scale 1). Deviations: the first basis is the exact truncated SVD (the authors draw a
 * seeded Gaussian range finder there, torch-RNG-specific); no restore_state, no Tucker projector
 * for ≥3-D leaves (AdamW), no 8-bit states.
 *
 * State per projected leaf: Q (dim × r) and the two r × k moments, as GaLore's. Checked against a
 * torch re-implementation (tools/fixtures/round2_optimizers.py; test/optim/round2.test.ts).
 */
import { grad as gradOf, numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { lowRankBasis } from "../../linalg/low-rank-basis.js";
import { orthonormalize } from "../../linalg/qr.js";
import { chain, type GradientTransformation, type LeafSpec, type State } from "../core.js";
import { projectable } from "../projection/subspace.js";
import { scaleByAdamEpsHat } from "../transforms/adam-eps-hat.js";
import { matrixOrFallback } from "../transforms/matrix-partition.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecayAfterStep } from "../transforms/weight-decay.js";
import * as check from "../validate.js";

/** Options of {@link coap}. */
export interface CoapOptions {
  /** Step size: a number or a schedule of the step (default 1e-3). */
  learningRate?: number | ((step: number) => number);
  /** r: projection rank (capped at the smaller side). */
  rank?: number;
  /** Tu: steps between basis updates. */
  updateInterval?: number;
  /** F: every F-th update re-fits the basis (a range-finder pass) instead of the cheap step. */
  reprojectFactor?: number;
  /** α on the projected-back update. */
  scale?: number;
  /** Step size of the basis update (the authors' lr = 0.1 in update_proj). */
  projLr?: number;
  b1?: number;
  b2?: number;
  eps?: number;
  weightDecay?: number;
  /** Which leaves are projected (default: every 2-D leaf); the others use AdamW. */
  mask?: LeafSpec<boolean>;
}

/** The defaults coap() really uses (the authors' AdamW; the rank as GaLore's). */
export const COAP_DEFAULTS = {
  rank: 128,
  updateInterval: 32,
  reprojectFactor: 5,
  scale: 1,
  projLr: 0.1,
  b1: 0.9,
  b2: 0.999,
  eps: 1e-6,
  weightDecay: 0,
} as const;

interface CoapLeaf {
  q: np.Array;
  mu: np.Array;
  nu: np.Array;
}

export interface CoapState {
  count: number;
  leaves: Record<string, CoapLeaf>;
}

/** Oriented view: g is dim × k with dim the smaller side (Gᵀ when rows ≥ cols). Consumes x. */
const orient = (x: np.Array, right: boolean) => (right ? x.transpose() : x);

/**
 * The authors' projection loss (update_proj) L(Q; g, M), differentiated in Q only;
 * `rowsAreColumns` says the leaf's rows are the oriented matrix's columns (the right case).
 * g and M are arguments rather than captured constants, so that grad consumes them.
 */
const projectionLoss = (rowsAreColumns: boolean) => (q: np.Array, g: np.Array, m: np.Array) => {
  const axis = rowsAreColumns ? 0 : 1;
  const back = np.matmul(q.ref, np.matmul(q.ref.transpose(), g.ref));
  const mse = np.square(back.sub(g.ref)).mean();
  const avg = np.matmul(q, m);
  const dot = avg.ref.mul(g.ref).sum(axis);
  const norms = np.square(avg).sum(axis).mul(np.square(g).sum(axis));
  // dot / √norms as dot·exp(−½ log norms): in jax-js 0.1.25 grad through a division (or pow,
  // reciprocal) by a traced value leaks buffers; exp and log do not.
  const cos = dot.mul(np.exp(np.log(np.maximum(norms, 1e-16)).mul(-0.5)));
  return mse.mul(cos.mean().neg().add(1));
};
const lossGrads = { right: gradOf(projectionLoss(true)), left: gradOf(projectionLoss(false)) };

/** Q ← Q − lr·clip₁(∇L(Q)). Consumes q; borrows g and m. */
function correlationStep(q: np.Array, g: np.Array, m: np.Array, right: boolean, lr: number) {
  const dq = (right ? lossGrads.right : lossGrads.left)(q.ref, g.ref, m.ref);
  const norm = (np.sqrt(np.square(dq.ref).sum()).js() as number) + 1e-6;
  const coef = Math.min(1, 1 / norm); // clip_grad_norm_(max_norm = 1)
  return q.sub(dq.mul(lr * coef));
}

/** Top-r left singular vectors (sign-normalised) of x. Consumes x. */
const topLeft = (x: np.Array, r: number) => lowRankBasis(x, r, "left").astype(np.float32);

/** COAP's projected Adam direction on matrix leaves (before −η; see the header). */
export function scaleByCoap(
  o: Required<Omit<CoapOptions, "learningRate" | "mask" | "weightDecay">>,
): GradientTransformation<CoapState> {
  const adam = scaleByAdamEpsHat({ b1: o.b1, b2: o.b2, eps: o.eps });
  const shapeOf = (s: number[]) => {
    const right = s[0] >= s[1];
    const dim = Math.min(s[0], s[1]);
    const k = Math.max(s[0], s[1]);
    return { right, dim, k, r: Math.min(o.rank, dim) };
  };
  return {
    init(params) {
      const leaves: Record<string, CoapLeaf> = {};
      tree.walk(params, (x: np.Array, path) => {
        if (x.ndim !== 2) throw new TypeError(`coap: leaf "${path}" is not a matrix`);
        const { dim, k, r } = shapeOf(x.shape);
        leaves[path] = { q: np.zeros([dim, r]), mu: np.zeros([r, k]), nu: np.zeros([r, k]) };
      });
      tree.dispose(params);
      return { count: 0, leaves };
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const t = state.count;
      const leaves: Record<string, CoapLeaf> = {};
      const out: np.Array[] = [];
      tree.walk(updates, (x: np.Array, path) => {
        const { right, r } = shapeOf(x.shape);
        const old = state.leaves[path];
        const g = orient(x, right);
        let q = old.q;
        if (t === 0) {
          q.dispose();
          q = topLeft(g.ref, r);
        } else if (t % o.updateInterval === 0) {
          if (t % (o.updateInterval * o.reprojectFactor) === 0) {
            const range = orthonormalize(np.matmul(g.ref.transpose(), q));
            q = topLeft(np.matmul(g.ref, range), r);
          } else {
            q = correlationStep(q, g, old.mu, right, o.projLr);
          }
        }
        const low = np.matmul(q.ref.transpose(), g);
        const [dir, next] = adam.update(
          { low },
          { count: t, mu: { low: old.mu }, nu: { low: old.nu } },
        );
        const back = np.matmul(q.ref, (dir as { low: np.Array }).low).mul(o.scale);
        out.push(right ? back.transpose() : back);
        leaves[path] = {
          q,
          mu: (next.mu as { low: np.Array }).low,
          nu: (next.nu as { low: np.Array }).low,
        };
      });
      return [tree.unflatten(updates, out) as Params, { count: t + 1, leaves }];
    },
  };
}

/**
 * COAP (Xiao et al. 2025): GaLore-style projected AdamW whose basis follows the gradient by a
 * correlation-aware step every `updateInterval` steps and is re-fitted every `reprojectFactor`-th.
 */
export function coap(options: CoapOptions = {}): GradientTransformation<State[]> {
  check.knownOptions("coap", options, [...Object.keys(COAP_DEFAULTS), "learningRate", "mask"]);
  const o = { ...COAP_DEFAULTS, ...options };
  const adamOpts = check.adamOptions({ b1: o.b1, b2: o.b2, eps: o.eps });
  const learningRate = check.learningRate(o.learningRate ?? 1e-3);
  return chain(
    matrixOrFallback(
      scaleByCoap({
        rank: check.integer("rank", o.rank, 1),
        updateInterval: check.integer("updateInterval", o.updateInterval, 1),
        reprojectFactor: check.integer("reprojectFactor", o.reprojectFactor, 1),
        scale: check.nonNegative("scale", o.scale),
        projLr: check.nonNegative("projLr", o.projLr),
        ...adamOpts,
      }),
      scaleByAdamEpsHat(adamOpts),
      (leaf, path) => leaf.ndim === 2 && projectable(o.mask)(leaf, path),
    ),
    scaleByLearningRate(learningRate),
    ...optionalDecayAfterStep(learningRate, check.nonNegative("weightDecay", o.weightDecay)),
  );
}
