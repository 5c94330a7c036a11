/**
 * adaptiveGradClip — AGC (Brock et al. 2021, NFNets), unit-wise:
 *   for each unit i (a row of a [out, in] weight; the whole tensor for vectors and scalars)
 *   maxᵢ = clipping · max(‖Wᵢ‖, eps);  gᵢ ← gᵢ · maxᵢ / ‖gᵢ‖ when ‖gᵢ‖ > maxᵢ.
 * Reference: optax.adaptive_grad_clip. Deviation: optax's leaves are [in, out] (units are columns);
 * ours follow PyTorch's [out, in] layout, so a unit is a row (reduce over every axis but the first).
 */
import { numpy as np } from "@jax-js/jax";
import { type GradientTransformation, statelessWithParams } from "../core.js";

function unitNorm(x: np.Array): np.Array {
  if (x.ndim <= 1) return np.sqrt(x.ref.mul(x).sum()).reshape([]);
  const axes = Array.from({ length: x.ndim - 1 }, (_, i) => i + 1);
  return np.sqrt(x.ref.mul(x).sum(axes, { keepdims: true }));
}

/**
 * Adaptive gradient clipping (AGC, NFNets): each row's gradient norm is clipped to `clipping` × the
 * row's parameter norm (at least `eps`).
 */
export function adaptiveGradClip(clipping: number, eps = 1e-3): GradientTransformation<any> {
  return statelessWithParams("adaptiveGradClip", (g, p) => {
    const maxNorm = np.maximum(unitNorm(p), eps).mul(clipping);
    const gNorm = unitNorm(g.ref);
    const factor = np.where(
      gNorm.ref.greater(maxNorm.ref),
      maxNorm.div(np.maximum(gNorm, 1e-6)),
      1,
    );
    return g.mul(factor);
  });
}
