/**
 * withGradient — run `inner`, then combine each leaf of its update with the same leaf of the
 * incoming gradient: u ← combine(u, g). The shared shape of wrappers that look back at the
 * gradient after the optimizer has moved it (Grams' sign swap, Cautious masking).
 */
import type { numpy as np } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import type { GradientTransformation, State } from "../core.js";

/** `inner` with its update combined leaf by leaf with the gradient (`combine` consumes both). */
export function withGradient<S extends State>(
  inner: GradientTransformation<S>,
  combine: (update: np.Array, grad: np.Array) => np.Array,
): GradientTransformation<S> {
  return {
    init: (params) => inner.init(params),
    update(updates, state, params) {
      const grads = tree.share(updates);
      const [u, next] = inner.update(updates, state, params);
      return [tree.map(combine, u, grads), next];
    },
  };
}
