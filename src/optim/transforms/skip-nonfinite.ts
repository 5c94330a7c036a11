/**
 * skipNonFinite — optax's apply_if_finite: when any update entry is NaN or ±Inf, the step is
 * skipped (zero updates) and the inner state is left exactly as it was; skips are counted.
 * After `maxConsecutive` skips in a row the inner update is applied anyway (optax semantics),
 * so a persistently broken run surfaces instead of silently stalling. Reads one boolean from the
 * device per step.
 */
import { numpy as np } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import type { GradientTransformation, State } from "../core.js";

/**
 * The state of {@link skipNonFinite}: the inner state, the steps skipped so far and those skipped
 * in a row.
 */
export interface SkipState {
  inner: State;
  skipped: number;
  consecutive: number;
}

/**
 * optax's apply_if_finite: a step whose updates hold NaN or ±Inf is skipped (zero updates, inner
 * state unchanged) and counted; after `maxConsecutive` skips in a row it is applied anyway.
 */
export function skipNonFinite(
  inner: GradientTransformation<any>,
  maxConsecutive = Number.POSITIVE_INFINITY,
): GradientTransformation<SkipState> {
  return {
    init(params) {
      return { inner: inner.init(params), skipped: 0, consecutive: 0 };
    },
    update(updates, state, params) {
      const finite = tree
        .leaves(updates)
        .map((u) => np.isfinite(u.ref).all())
        .reduce((a, b) => a.mul(b));
      const ok = Boolean(finite.dataSync()[0]);
      if (!ok && state.consecutive + 1 <= maxConsecutive) {
        const zeros = tree.zerosLike(updates);
        tree.dispose(updates);
        if (params !== undefined) tree.dispose(params);
        const next = { ...state, skipped: state.skipped + 1, consecutive: state.consecutive + 1 };
        return [zeros, next];
      }
      const [u, s] = inner.update(updates, state.inner, params);
      return [u, { inner: s, skipped: state.skipped, consecutive: 0 }];
    },
  };
}
