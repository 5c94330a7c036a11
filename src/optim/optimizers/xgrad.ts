/**
 * XGrad weight prediction (Guan et al. 2023, "XGrad: Boosting Gradient-Based Optimizers With
 * Weight Prediction"), for Adam and AdamW: before each step the weights are moved `s` steps ahead
 * along the optimizer's current direction,
 *   Ŵ = W − s·η·m̂/(√v̂ + ε),   m̂ = m/(1 − β1ᵗ), v̂ = v/(1 − β2ᵗ), t the steps taken so far
 * (the authors' `load_predicted_weights` in guanleics/XGrad Adam.py / AdamW.py: no weight-decay
 * term, no prediction before the first step, when there are no moments yet). The gradient is
 * taken at Ŵ and the optimizer then updates W (not Ŵ) with it, as usual.
 * The optimizer is plain Adam/AdamW; what XGrad adds is where the gradient is evaluated, so the
 * trainer asks the registry entry's `predict` for Ŵ (src/train/run-step.ts). Checked against
 * tools/fixtures/xgrad.py (a torch loop with the authors' rule on a quadratic whose gradient
 * depends on the weights; test/optim/xgrad.test.ts).
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { leafwise } from "../leafwise.js";
import type { AdamState } from "../transforms/adam.js";
import { ADAMW_DEFAULTS } from "./adam.js";

/** Options of {@link xgradPredict}: the step's learning rate, Adam's β1, β2, ε, and s. */
export interface XgradPredictOptions {
  learningRate: number;
  b1: number;
  b2: number;
  eps: number;
  /** Steps predicted ahead (the paper's s; default 1). */
  steps?: number;
}

// W − c1·m / (√v·c2 + ε), c1 = s·η/(1 − β1ᵗ), c2 = 1/√(1 − β2ᵗ).
const predictLeaves = leafwise(([w, m, v], [c1, c2, eps]) => [
  w.sub(m.mul(c1).div(np.sqrt(v).mul(c2).add(eps))),
]);

/**
 * Ŵ = W − s·η·m̂/(√v̂ + ε) from Adam's state (borrowed); before the first step Ŵ = W. Consumes
 * `params`; returns new arrays.
 */
export function xgradPredict(params: Params, state: AdamState, o: XgradPredictOptions): Params {
  const t = state.count;
  if (t === 0) return params;
  const s = o.steps ?? 1;
  const c1 = (s * o.learningRate) / (1 - o.b1 ** t);
  const c2 = 1 / Math.sqrt(1 - o.b2 ** t);
  return predictLeaves([params, tree.share(state.mu), tree.share(state.nu)], [c1, c2, o.eps])[0];
}

/** AdamW's defaults and XGrad's s (the registry's xgrad-adamw). */
export const XGRAD_ADAMW_DEFAULTS = { ...ADAMW_DEFAULTS, predictSteps: 1 } as const;
