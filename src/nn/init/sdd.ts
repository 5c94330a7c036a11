/**
 * Scale-Distribution Decoupling (Wang et al. 2025, "Scale-Distribution Decoupling: Enabling
 * Stable and Effective Training of Large Language Models"; kaihemo/SDD, whose README gives the
 * layer: a Linear followed by an RMSNorm with a learnable scale; read, not copied): a fully
 * connected layer whose output distribution is normalised and whose scale is a separate vector,
 *   y = g ⊙ h / √(mean(h²) + ε),   h = x Wᵀ   (the mean over the output features of each row)
 * with g initialised to ones (`sddScale`). The output no longer depends on W's scale
 * (sddLinear(x, cW) = sddLinear(x, W) for c > 0, up to ε), so ⟨∇_W L, W⟩ = 0: the gradient
 * cannot grow or shrink W's norm to first order, which is what keeps deep (Post-Norm) stacks
 * from exploding or vanishing gradients.
 * Deviations: a function for models to call; the LLaMA decoder applies the same layer when its
 * weights hold SDD scales (nn/sdd-model.ts, `train --sdd`); the MLP does not use it.
 */
import { numpy as np } from "@jax-js/jax";

/** The learnable scale vector g of an SDD layer with `outFeatures` outputs, at its init (ones). */
export const sddScale = (outFeatures: number): np.Array => np.ones([outFeatures]);

/** g ⊙ RMSNorm(x Wᵀ) (W: out × in; x: …, in). Consumes x, w and scale. */
export function sddLinear(x: np.Array, w: np.Array, scale: np.Array, eps = 1e-6): np.Array {
  const h = np.matmul(x, w.transpose());
  const rms = np.sqrt(h.ref.mul(h.ref).mean(-1, { keepdims: true }).add(eps));
  return h.div(rms).mul(scale);
}
