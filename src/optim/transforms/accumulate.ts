/**
 * accumulateGradients — optax's MultiSteps: average the updates of k micro-steps and call the
 * inner transformation once every k calls; in between the updates are zero and the inner state
 * is untouched. Effective batch = k × micro-batch.
 */
import type { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import type { GradientTransformation, State } from "../core.js";
import { integer } from "../validate.js";

/**
 * The state of {@link accumulateGradients}: the inner state, the micro-step within the cycle and
 * the running sum.
 */
export interface AccumulateState {
  inner: State;
  microStep: number;
  sum: Params;
}

/**
 * optax's MultiSteps: average the updates of `every` micro-steps and call `inner` once per cycle
 * (zero updates in between).
 */
export function accumulateGradients(
  inner: GradientTransformation<any>,
  every: number,
): GradientTransformation<AccumulateState> {
  integer("every", every, 1);
  return {
    init(params) {
      const sum = tree.zerosLike(params);
      return { inner: inner.init(params), microStep: 0, sum };
    },
    update(updates, state, params) {
      const sum = tree.map((u: np.Array, s: np.Array) => s.add(u), updates, state.sum);
      if (state.microStep + 1 < every) {
        if (params !== undefined) tree.dispose(params);
        return [tree.zerosLike(sum), { ...state, microStep: state.microStep + 1, sum }];
      }
      const mean = tree.map((s: np.Array) => s.mul(1 / every), sum);
      const [u, s] = inner.update(mean, state.inner, params);
      return [u, { inner: s, microStep: 0, sum: tree.zerosLike(u) }];
    },
  };
}
