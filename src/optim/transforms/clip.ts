/**
 * Clipping. clipByGlobalNorm: if ‖u‖₂ (over every leaf) > maxNorm, u ← u · maxNorm / ‖u‖₂, as
 * torch.nn.utils.clip_grad_norm_ (which divides by ‖u‖ + 1e-6; optax divides by ‖u‖ — we follow
 * optax: exact rescaling to maxNorm). clipByValue: u ← clamp(u, −max, max).
 * The norm stays an array: no host read, so clipping never stalls the pipeline.
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { type GradientTransformation, stateless } from "../core.js";

/** Global L2 norm of every leaf (borrows the tree), as a scalar array. */
export function globalNorm(t: Params): np.Array {
  const squares = tree.leaves(t).map((x) => x.ref.mul(x.ref).sum());
  return np.sqrt(squares.reduce((a, b) => a.add(b)));
}

export function clipByGlobalNorm(maxNorm: number): GradientTransformation<Record<string, never>> {
  return {
    init(params) {
      tree.dispose(params);
      return {};
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const norm = globalNorm(updates);
      // factor = maxNorm / max(norm, maxNorm): 1 below the threshold.
      const factor = np.maximum(norm, maxNorm).div(maxNorm);
      const out = tree.map((u: np.Array) => u.div(factor.ref), updates);
      factor.dispose();
      return [out, state];
    },
  };
}

export const clipByValue = (maxDelta: number) => stateless((u) => np.clip(u, -maxDelta, maxDelta));
