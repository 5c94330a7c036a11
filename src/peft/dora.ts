/**
 * DoRA (Liu et al. 2024, "DoRA: Weight-Decomposed Low-Rank Adaptation"), as PEFT's
 * DoraLinearLayer (huggingface/peft src/peft/tuners/lora/dora.py).
 *
 * Rule: V = W + s·B·A; n = ‖V‖ per output row (norm over the input axis, dim 1 of [out, in]);
 *   W' = (m / n)[:, None] · V, with n detached from the gradient (paper §4.3, PEFT's
 *   `weight_norm.detach()`), so the gradient reaches m, A and B as in PEFT's forward
 *   y = base(x) + (m/n − 1)·base(x) + (m/n)·s·B(A(x)).
 *   The magnitude m (PEFT: lora_magnitude_vector [out]) starts at ‖W + s·B·A‖ per row.
 *   Merge W' = (m/n)·V; unmerge W = W'/(m/n) − s·B·A with the n cached at merge time.
 *
 * Deviations: DoRA on embeddings is not implemented (planAdapter refuses it); dropout is the
 * caller's.
 */
import { lax, numpy as np } from "@jax-js/jax";

/** Row norms ‖V‖ over the input axis: [out]. Consumes `v`. */
export function rowNorm(v: np.Array): np.Array {
  return np.sqrt(np.square(v).sum(1));
}

/** DoRA's initial magnitude: ‖W + Δ‖ per row. Consumes both. */
export function doraMagnitude(w: np.Array, delta: np.Array): np.Array {
  return rowNorm(w.add(delta));
}

/**
 * The effective weight (m / sg(n))·(W + Δ), Δ = s·B·A, n = ‖W + Δ‖ per row. Consumes all three.
 */
export function doraWeight(w: np.Array, delta: np.Array, magnitude: np.Array): np.Array {
  const v = w.add(delta);
  const n = lax.stopGradient(rowNorm(v.ref));
  return v.mul(magnitude.div(n).reshape([-1, 1]));
}
