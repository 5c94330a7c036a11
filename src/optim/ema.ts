/**
 * Parameter EMA (Polyak averaging): ē ← d·ē + (1−d)·p after each step; with `debias`,
 * `emaValue` divides by 1 − dᵗ (Adam-style), so early averages are not pulled towards the start.
 * Kept beside the optimizer rather than inside it because it reads parameters, not updates.
 */
import type { numpy as np } from "@jax-js/jax";
import type { Params } from "../engine/tree.js";
import * as tree from "../engine/tree.js";
import { ema } from "./transforms/moments.js";
import { unitInterval } from "./validate.js";

/** The state of {@link paramEma}: the step count and the running average of the parameters. */
export interface EmaState {
  count: number;
  average: Params;
}

/**
 * Parameter EMA (Polyak averaging): `update(params, state)` folds the new parameters into the
 * average after each step; with `debias` the average is divided by 1 − decayᵗ. Not a gradient
 * transformation: it reads parameters, not updates.
 */
export function paramEma(o: { decay: number; debias?: boolean }) {
  const decay = unitInterval("decay", o.decay);
  return {
    /** Consumes params. With debias the average starts at 0, else at the params. */
    init(params: Params): EmaState {
      if (!o.debias) return { count: 0, average: params };
      const average = tree.zerosLike(params);
      tree.dispose(params);
      return { count: 0, average };
    },
    /** Fold the new params in (consumes params and state). */
    update(params: Params, state: EmaState): EmaState {
      const average = tree.map(
        (p: np.Array, a: np.Array) => ema(a, p, decay),
        params,
        state.average,
      );
      return { count: state.count + 1, average };
    },
    /** The averaged params (borrows state). */
    value(state: EmaState): Params {
      const c = o.debias && state.count > 0 ? 1 / (1 - decay ** state.count) : 1;
      return tree.map((a: np.Array) => a.ref.mul(c), state.average);
    },
  };
}
