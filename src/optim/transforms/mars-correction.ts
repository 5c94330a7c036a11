/**
 * marsCorrection — MARS's variance-reduced gradient (Yuan et al. 2024, arXiv 2411.10438, the
 * approximate variant that uses the previous step's gradient), shared by MARS-Lion and
 * MARS-Shampoo:
 *   c = g + γ·β1/(1−β1)·(g − g_prev)     (g_prev = 0 at the first step)
 *   c ← c / max(1, ‖c‖_F)                 (per-leaf norm clipped at 1)
 * State: the previous gradient per leaf. Reference: AGI-Arena/MARS MARS/optimizers/mars.py
 * (`update_fn`, is_approx; read, not copied). mars.ts computes the same c (marsCorrected) inside
 * its own state (kept as it is so that its saved states stay readable).
 */
import { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import type { GradientTransformation } from "../core.js";

/** The correction's state: the gradient of the previous step (zeros before the first). */
export interface MarsCorrectionState {
  previous: Params;
}

/** MARS's clipped, variance-reduced gradient c (see the file header). */
export function marsCorrection(o: {
  gamma: number;
  b1: number;
}): GradientTransformation<MarsCorrectionState> {
  const k = (o.gamma * o.b1) / (1 - o.b1);
  return {
    init(params) {
      const previous = tree.zerosLike(params);
      tree.dispose(params);
      return { previous };
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      return [marsCorrected(updates, state.previous, k), { previous: updates }];
    },
  };
}

/**
 * c per leaf for k = γ·β1/(1−β1); keeps `grads` (the caller stores them as the next
 * `previous`) and consumes `previous`. Shared with mars.ts, which keeps c in its own state.
 */
export function marsCorrected(grads: Params, previous: Params, k: number): Params {
  return tree.map(
    (g: np.Array, prev: np.Array) => {
      const c = g.ref.add(g.ref.sub(prev).mul(k));
      const norm = np.sqrt(c.ref.mul(c.ref).sum());
      return c.div(np.maximum(norm, 1));
    },
    grads,
    previous,
  );
}
