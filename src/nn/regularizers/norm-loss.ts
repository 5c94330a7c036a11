/**
 * Norm loss (Georgiou et al. 2020, "Norm Loss: An efficient yet effective regularization method
 * for deep neural networks"): a soft constraint steering each weight vector towards the unit
 * sphere (the Oblique manifold),
 *   L_norm = λ · Σ_matrices Σ_rows (1 − ‖w_i‖)²
 * with w_i one output unit's row of a [out, in] matrix (a conv filter in the paper). Its gradient
 * per row is 2λ(‖w_i‖ − 1)·w_i/‖w_i‖ (0 for a zero row).
 * Two forms: `normLoss(params, λ)`, a differentiable scalar to add to a loss, and
 * `addNormLossGradient(λ)`, a gradient transformation that adds that gradient (chain it before
 * the optimizer, as L2 weight decay). Only 2-D leaves (matrices) are regularised; biases and
 * norm scales are left alone.
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { type GradientTransformation, statelessTree } from "../../optim/core.js";
import { leafwise } from "../../optim/leafwise.js";

const rowNorms = (w: np.Array) => np.sqrt(w.ref.mul(w).sum(1, { keepdims: true }));

/** λ · Σ over matrices and rows of (1 − ‖w_i‖)², as a 0-d array. Borrows `params`. */
export function normLoss(params: Params, lambda: number): np.Array {
  let total: np.Array = np.zeros([]);
  for (const w of tree.leaves(params)) {
    if (w.ndim !== 2) continue;
    const gap = rowNorms(w.ref).sub(1);
    total = total.add(gap.ref.mul(gap).sum());
  }
  return total.mul(lambda);
}

// u + 2λ(‖w_i‖ − 1)·w_i/‖w_i‖ on matrices; other leaves pass through (shapes are static in jit).
const addLeaves = leafwise(([u, w], [lambda]) => {
  if (w.ndim !== 2) {
    w.dispose();
    lambda.dispose();
    return [u];
  }
  const n = rowNorms(w.ref);
  const scale = n.ref.sub(1).mul(2).div(np.maximum(n, 1e-30));
  return [u.add(w.mul(scale).mul(lambda))];
});

/** Adds the norm loss's gradient λ·∇(Σ(1 − ‖w_i‖)²) to the updates (before an optimizer). */
export function addNormLossGradient(lambda: number): GradientTransformation<Record<string, never>> {
  if (!(lambda >= 0) || !Number.isFinite(lambda)) {
    throw new RangeError(`normLoss lambda must be a number ≥ 0, got ${lambda}`);
  }
  return statelessTree((u, p) => addLeaves([u, p], [lambda])[0], "addNormLossGradient");
}
