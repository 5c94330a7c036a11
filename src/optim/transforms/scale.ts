/**
 * Scaling by constants and by the learning rate. `scaleByLearningRate(lr)` multiplies by −lr(step),
 * turning a descent direction into the step that `applyUpdates` adds.
 */
import type { numpy as np } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import {
  evaluate,
  type GradientTransformation,
  type ScalarOrSchedule,
  stateless,
} from "../core.js";

export const scale = (factor: number): GradientTransformation<Record<string, never>> =>
  stateless((u) => u.mul(factor));

export interface CountState {
  count: number;
}

/** Multiply by `fn(step)`; the step counter starts at 0. */
export function scaleBySchedule(fn: (step: number) => number): GradientTransformation<CountState> {
  return {
    init(params) {
      tree.dispose(params);
      return { count: 0 };
    },
    update(updates, state, params) {
      if (params !== undefined) tree.dispose(params);
      const factor = fn(state.count);
      return [tree.map((u: np.Array) => u.mul(factor), updates), { count: state.count + 1 }];
    },
  };
}

export const scaleByLearningRate = (learningRate: ScalarOrSchedule) =>
  scaleBySchedule((step) => -evaluate(learningRate, step));
