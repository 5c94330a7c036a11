/**
 * grokfastEma — Grokfast's EMA gradient filter (Lee et al. 2024, "Grokfast: Accelerated Grokking
 * by Amplifying Slow Gradients", arXiv 2405.20233), amplifying the slow component of the gradient:
 *   e ← α·e + (1−α)·g   (e starts at the first gradient),   g ← g + λ·e
 * Put it first in a chain: chain(grokfastEma(), ...adamw's transformations) or
 * chain(grokfastEma(), adamw()). Checked against the authors' gradfilter_ema (ironjr/grokfast,
 * grokfast.py; read, not copied) in tools/fixtures/adaptive_optimizers.py. No deviations.
 */
import type { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import type { GradientTransformation } from "../core.js";
import * as check from "../validate.js";
import { ema } from "./moments.js";

/** The state of {@link grokfastEma}: the step count and the slow (EMA) gradient. */
export interface GrokfastState {
  count: number;
  /** The slow gradient (zeros before the first step, which starts it at the gradient). */
  ema: Params;
}

/**
 * Grokfast's EMA filter (Lee et al. 2024): g ← g + λ·e with e the EMA of the gradients (α default
 * 0.98, λ default 2). Put it first in a chain.
 */
export function grokfastEma(
  options: { alpha?: number; lamb?: number } = {},
): GradientTransformation<GrokfastState> {
  check.knownOptions("grokfastEma", options, ["alpha", "lamb"]);
  const alpha = check.unitInterval("alpha", options.alpha ?? 0.98);
  const lamb = check.nonNegative("lamb", options.lamb ?? 2);
  return {
    init(params) {
      const state = { count: 0, ema: tree.zerosLike(params) };
      tree.dispose(params);
      return state;
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      let slow: Params;
      if (state.count === 0) {
        tree.dispose(state.ema);
        slow = tree.share(updates);
      } else {
        slow = tree.map((g: np.Array, e: np.Array) => ema(e, g.ref, alpha), updates, state.ema);
      }
      const out = tree.map((g: np.Array, e: np.Array) => g.add(e.ref.mul(lamb)), updates, slow);
      return [out, { count: state.count + 1, ema: slow }];
    },
  };
}
