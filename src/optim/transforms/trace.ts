/**
 * trace — heavy-ball momentum as in torch.optim.SGD:
 *   b ← g at the first step, then b ← μ·b + (1−dampening)·g;   u = g + μ·b (Nesterov) or u = b.
 * PyTorch starts the buffer at the first gradient (not at zero), which matters with dampening.
 */
import type { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import type { GradientTransformation } from "../core.js";

/** Momentum's state: the step count and the momentum buffer. */
export interface TraceState {
  count: number;
  /** Zeros until the first step (kept allocated so the state's shape never changes). */
  trace: Params;
}

/**
 * Heavy-ball momentum as torch.optim.SGD: b ← μ·b + (1 − dampening)·g (b starts at the first
 * gradient); u = b, or g + μ·b with `nesterov`.
 */
export function trace(o: {
  decay: number;
  nesterov?: boolean;
  dampening?: number;
}): GradientTransformation<TraceState> {
  const { decay, nesterov = false, dampening = 0 } = o;
  return {
    init(params) {
      const state = { count: 0, trace: tree.zerosLike(params) };
      tree.dispose(params);
      return state;
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      let next: Params;
      if (state.count === 0) {
        tree.dispose(state.trace);
        next = tree.share(updates);
      } else {
        next = tree.map(
          (g: np.Array, b: np.Array) => b.mul(decay).add(g.ref.mul(1 - dampening)),
          updates,
          state.trace,
        );
      }
      if (!nesterov) {
        tree.dispose(updates);
        return [tree.share(next), { count: state.count + 1, trace: next }];
      }
      const out = tree.map((g: np.Array, b: np.Array) => g.add(b.ref.mul(decay)), updates, next);
      return [out, { count: state.count + 1, trace: next }];
    },
  };
}
