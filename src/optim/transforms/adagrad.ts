/**
 * scaleByAdagrad — Adagrad's accumulation (Duchi et al. 2011; PyTorch's arithmetic):
 *   s ← s + g²,  u = g / (sqrt(s) + ε),  s starts at `initialAccumulatorValue`.
 * Checked against torch.optim.Adagrad.
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import type { GradientTransformation } from "../core.js";

/** Adagrad's scaling: s ← s + g², u = g / (√s + ε) (PyTorch's arithmetic). */
export function scaleByAdagrad(
  o: { initialAccumulatorValue?: number; eps?: number } = {},
): GradientTransformation<{ sum: Params }> {
  const initial = o.initialAccumulatorValue ?? 0;
  const eps = o.eps ?? 1e-10;
  return {
    init(params) {
      const sum = tree.map((p: np.Array) => np.full(p.shape, initial), params);
      tree.dispose(params);
      return { sum };
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const sum = tree.map(
        (g: np.Array, s: np.Array) => s.add(g.ref.mul(g.ref)),
        updates,
        state.sum,
      );
      const out = tree.map(
        (g: np.Array, s: np.Array) => g.div(np.sqrt(s.ref).add(eps)),
        updates,
        sum,
      );
      return [out, { sum }];
    },
  };
}
