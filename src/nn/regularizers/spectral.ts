/**
 * Spectral regularisation (Lewandowski et al. 2024, "Learning Continually by Spectral
 * Regularization"): keep each weight matrix's top singular value near a target, so the
 * gradient diversity of initialisation is kept through training,
 *   R = λ · Σ_matrices (σ₁(W) − τ)²,   ∇_W R = 2λ(σ₁ − τ)·u₁v₁ᵀ
 * (∂σ₁/∂W = u₁v₁ᵀ for a simple top singular value). σ₁, u₁, v₁ come from power iteration warm-
 * started from the previous step's v₁ (`iterations` per step; linalg/power-iteration.ts), never
 * an SVD. τ is each matrix's own σ₁ at `init` (the initial scale, the default), or one number
 * for every matrix (`target: 1` is the paper's choice of keeping σ₁ near 1).
 * A gradient transformation: chain it before the optimizer, as L2 weight decay. Its state (per
 * matrix: v₁ as n×1 and τ as a 0-d array; 0-d placeholders for other leaves) keeps its
 * structure from `init` on. Other leaves pass through.
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { startVector, topSingular } from "../../linalg/power-iteration.js";
import type { GradientTransformation } from "../../optim/core.js";
import { leafwise } from "../../optim/leafwise.js";

/** Options of {@link spectralRegularization}. */
export interface SpectralRegularizationOptions {
  /** Strength λ. */
  lambda: number;
  /** Power iterations per step, warm-started (default 1). */
  iterations?: number;
  /** Iterations at `init`, for τ and the first v₁ (default 30). */
  initIterations?: number;
  /** τ for every matrix; default: each matrix's σ₁ at init. */
  target?: number;
}

/** The state: per leaf the warm-start vector and the target (placeholders off matrices). */
export interface SpectralState {
  v: Params;
  target: Params;
}

const stepFns = new Map<number, ReturnType<typeof leafwise>>();
function stepFn(iterations: number) {
  let fn = stepFns.get(iterations);
  if (fn === undefined) {
    fn = leafwise(([u, w, v, tau], [lambda]) => {
      if (w.ndim !== 2) {
        w.dispose();
        lambda.dispose();
        return [u, v, tau];
      }
      const t = topSingular(w, v, iterations);
      w.dispose();
      const pull = t.sigma.sub(tau.ref).mul(lambda).mul(2);
      const rankOne = np.matmul(t.u, t.v.ref.transpose());
      return [u.add(rankOne.mul(pull)), t.v, tau];
    });
    stepFns.set(iterations, fn);
  }
  return fn;
}

/** Adds ∇ λ·Σ(σ₁(W) − τ)² to the updates of every matrix (chain before the optimizer). */
export function spectralRegularization(
  options: SpectralRegularizationOptions,
): GradientTransformation<SpectralState> {
  const { lambda, iterations = 1, initIterations = 30, target } = options;
  if (!(lambda >= 0) || !Number.isFinite(lambda)) {
    throw new RangeError(`spectral regularisation lambda must be a number ≥ 0, got ${lambda}`);
  }
  for (const [name, k] of [
    ["iterations", iterations],
    ["initIterations", initIterations],
  ] as const) {
    if (!Number.isInteger(k) || k < 1)
      throw new RangeError(`${name} must be an integer ≥ 1, got ${k}`);
  }
  if (target !== undefined && !(target >= 0 && Number.isFinite(target))) {
    throw new RangeError(`target must be a number ≥ 0, got ${target}`);
  }
  return {
    init(params) {
      const v: np.Array[] = [];
      const tau: np.Array[] = [];
      tree.leaves(params).forEach((w, i) => {
        if (w.ndim !== 2) {
          v.push(np.zeros([]));
          tau.push(np.zeros([]));
          w.dispose();
          return;
        }
        const n = w.shape[1];
        const t = topSingular(w, np.array(startVector(n, i), { shape: [n, 1] }), initIterations);
        w.dispose();
        t.u.dispose();
        v.push(t.v);
        if (target === undefined) tau.push(t.sigma);
        else {
          t.sigma.dispose();
          tau.push(np.array(target));
        }
      });
      return {
        v: tree.unflatten(params, v) as Params,
        target: tree.unflatten(params, tau) as Params,
      };
    },
    update(updates, state, params) {
      if (params === undefined) throw new Error("spectralRegularization needs params in update()");
      const [out, v, target] = stepFn(iterations)(
        [updates, params, state.v, state.target],
        [lambda],
      );
      return [out, { v, target }];
    },
  };
}
