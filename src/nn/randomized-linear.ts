/**
 * randomizedLinear — y = x Wᵀ whose backward pass multiplies through a random sketch of the
 * rows (Bershatsky et al. 2022, "Memory-Efficient Backpropagation through Large Linear Layers";
 * randomized matrix multiplication, Drineas et al. 2006): with S (N × k) Gaussian / √k, so that
 * E[S Sᵀ] = I, the weight gradient is
 *   Ĝ = δᵀ S Sᵀ x     (δ = ∂L/∂y, N × d_out; x: N × d_in)
 * instead of G = δᵀ x, and only the k × d_in sketch Sᵀx (and the seed of S) is needed for it.
 * E[Ĝ] = G, and for Gaussian S:  E‖Ĝ − G‖_F² = (‖G‖_F² + ‖δ‖_F²‖x‖_F²)/k.
 * The gradient with respect to x is exact (δ W). N counts the rows of x (batch × positions).
 * How: y = x·sg(W)ᵀ + S·(sg(Sᵀx)·Wᵀ) − sg(S Sᵀ x Wᵀ), where sg stops gradients: the value is
 * x Wᵀ, x's gradient flows through the first term only, W's through the second only.
 * Deviation: jax-js keeps what its autodiff keeps (the sketch trick fixes the gradient's
 * arithmetic, not which residuals the engine chooses to store), so the memory saving is the
 * paper's only where the engine drops x; the estimator is exactly the paper's.
 */
import { lax, numpy as np, random } from "@jax-js/jax";

/** x (…, d_in) · Wᵀ (W: d_out × d_in) with a sketched weight gradient. Consumes x, w and key. */
export function randomizedLinear(x: np.Array, w: np.Array, key: np.Array, k: number): np.Array {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be an integer ≥ 1, got ${k}`);
  const lead = x.shape.slice(0, -1);
  const dIn = x.shape[x.ndim - 1];
  const rows = lead.reduce((a, b) => a * b, 1);
  const x2 = x.reshape([rows, dIn]);
  const s = random.normal(key, [rows, k]).mul(1 / Math.sqrt(k));
  const exact = np.matmul(x2.ref, lax.stopGradient(w.ref).transpose());
  const sketch = lax.stopGradient(np.matmul(s.ref.transpose(), x2)); // k × d_in
  const viaSketch = np.matmul(s, np.matmul(sketch, w.transpose()));
  const y = exact.add(viaSketch.ref).sub(lax.stopGradient(viaSketch));
  return y.reshape([...lead, -1]);
}
