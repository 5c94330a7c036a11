/**
 * Replaying a golden trajectory: a fixture case holds a start {w, b}, a gradient per step and the
 * reference parameters after every step; the optimizer must match them at EVERY step.
 */
import { numpy as np } from "@jax-js/jax";
import { expect } from "vitest";
import { applyUpdates, tree } from "../../src/index.js";
import { closeness, read } from "./engine.js";

export type Leaves = { w: number[]; b: number[] };

export interface TrajectoryCase {
  name: string;
  shapes: { w: number[]; b: number[] };
  init: Leaves;
  grads: Leaves[];
  params: Leaves[];
}

/** The optimizer contract, loosely typed: each factory has its own state type. */
export interface Optimizer {
  init(params: any): any;
  update(updates: any, state: any, params?: any): [any, any];
}

const KEYS = ["w", "b"] as const;

export function leafTree(values: Leaves, shapes: TrajectoryCase["shapes"]) {
  return {
    w: np.array(Float32Array.from(values.w), { shape: shapes.w }),
    b: np.array(Float32Array.from(values.b), { shape: shapes.b }),
  };
}

/**
 * Replay `c` through `opt`; returns a message for the first step whose parameters are off
 * (|actual − expected| > rtol·|expected| + atol), or null. `prepare` may adjust the fresh state.
 */
export function replay(
  c: TrajectoryCase,
  opt: Optimizer,
  tolerance: { rtol: number; atol: number },
  prepare: (state: any) => any = (state) => state,
): string | null {
  let params = leafTree(c.init, c.shapes);
  let state = prepare(opt.init(tree.ref(params)));
  let failure: string | null = null;
  try {
    for (let step = 0; step < c.grads.length && failure === null; step++) {
      const grads = leafTree(c.grads[step], c.shapes);
      const [updates, next] = opt.update(grads, state, tree.ref(params));
      state = next;
      params = applyUpdates(params, updates) as typeof params;
      for (const k of KEYS) {
        expect(params[k].shape).toEqual(c.shapes[k]);
        const actual = read(params[k]);
        const expected = c.params[step][k];
        const { ratio, index } = closeness(actual, expected, tolerance.rtol, tolerance.atol);
        if (!(ratio <= 1)) {
          failure =
            `${c.name}: step ${step + 1} of ${c.grads.length}, ${k}[${index}] = ${actual[index]}, ` +
            `expected ${expected[index]} (error ${ratio.toPrecision(3)}× the tolerance)`;
          break;
        }
      }
    }
  } finally {
    tree.dispose(params);
    tree.dispose(state);
  }
  return failure;
}
