/**
 * Scaling by constants and by the learning rate. `scaleByLearningRate(lr)` multiplies by −lr(step),
 * turning a descent direction into the step that `applyUpdates` adds. Compiled over the whole
 * tree (see leafwise.ts); the factor is an argument, so a schedule never recompiles.
 */
import * as tree from "../../engine/tree.js";
import { evaluate, type GradientTransformation, type ScalarOrSchedule } from "../core.js";
import { leafwise } from "../leafwise.js";

const scaleLeaves = leafwise(([u], [factor]) => [u.mul(factor)]);

/** A state that only counts steps. */
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
      const [scaled] = scaleLeaves([updates], [fn(state.count)]);
      return [scaled, { count: state.count + 1 }];
    },
  };
}

/** Multiply by a constant (a schedule that never changes; its count is kept for uniformity). */
export const scale = (factor: number) => scaleBySchedule(() => factor);

/**
 * Multiply the updates by −learningRate(step): turns a descent direction into the step {@link
 * applyUpdates} adds.
 */
export const scaleByLearningRate = (learningRate: ScalarOrSchedule) =>
  scaleBySchedule((step) => -evaluate(learningRate, step));
