/**
 * scaleByRms — RMSprop's normalisation (Hinton 2012; PyTorch's arithmetic):
 *   s ← ρ·s + (1−ρ)·g²;  centered: ḡ ← ρ·ḡ + (1−ρ)·g,  u = g / (sqrt(s − ḡ²) + ε);  else u = g / (sqrt(s) + ε)
 * Checked against torch.optim.RMSprop. State starts at `initialScale` (0, as PyTorch).
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import type { GradientTransformation } from "../core.js";
import { ema, emaSquare } from "./moments.js";

/** RMSprop's state: the running mean of g² (and of g when centered). */
export interface RmsState {
  nu: Params;
  mu?: Params;
}

/**
 * RMSprop's scaling: u = g / (√s + ε) with s the running mean of g² (decay default 0.99; centered
 * subtracts the squared running mean of g).
 */
export function scaleByRms(
  o: { decay?: number; eps?: number; centered?: boolean } = {},
): GradientTransformation<RmsState> {
  const decay = o.decay ?? 0.99;
  const eps = o.eps ?? 1e-8;
  return {
    init(params) {
      const state: RmsState = { nu: tree.zerosLike(params) };
      if (o.centered) state.mu = tree.zerosLike(params);
      tree.dispose(params);
      return state;
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const nu = tree.map(
        (g: np.Array, v: np.Array) => emaSquare(v, g.ref, decay),
        updates,
        state.nu,
      );
      const mu = state.mu
        ? tree.map((g: np.Array, m: np.Array) => ema(m, g.ref, decay), updates, state.mu)
        : undefined;
      const out = mu
        ? tree.map(
            (g: np.Array, v: np.Array, m: np.Array) =>
              g.div(np.sqrt(v.ref.sub(m.ref.mul(m.ref))).add(eps)),
            updates,
            nu,
            mu,
          )
        : tree.map((g: np.Array, v: np.Array) => g.div(np.sqrt(v.ref).add(eps)), updates, nu);
      return [out, mu ? { nu, mu } : { nu }];
    },
  };
}
