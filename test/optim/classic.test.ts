/**
 * Golden trajectories for the classic optimizers: test/fixtures/classic_optimizers.json holds, for
 * each case, a seeded start, 25 seeded gradients and the parameters after every step as computed
 * by the reference (torch.optim 1.13 where torch has the method, else the authors' algorithm
 * re-written in numpy; see tools/fixtures/classic_optimizers.py). We replay the gradients through
 * our optimizer and compare the parameters after EVERY step.
 */
import { readFileSync } from "node:fs";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import {
  adafactor,
  adagrad,
  adam,
  adamax,
  adamw,
  amsgrad,
  applyUpdates,
  lion,
  nadam,
  novograd,
  radam,
  rmsprop,
  sgd,
  signSgd,
  signum,
  tree,
} from "../../src/index.js";
import { closeness, read, setup } from "../helpers/engine.js";

type Leaves = { w: number[]; b: number[] };

interface Case {
  name: string;
  optimizer: string;
  options: Record<string, unknown>;
  shapes: { w: number[]; b: number[] };
  init: Leaves;
  grads: Leaves[];
  params: Leaves[];
}

const RTOL = 1e-4;
const ATOL = 1e-7;

const fixture: { cases: Case[] } = JSON.parse(
  readFileSync(new URL("../fixtures/classic_optimizers.json", import.meta.url), "utf8"),
);

/** The optimizer contract, loosely typed: each factory has its own state type. */
interface Optimizer {
  init(params: any): any;
  update(updates: any, state: any, params?: any): [any, any];
}

const factories: Record<string, (options: any) => Optimizer> = {
  sgd,
  adam,
  adamw,
  amsgrad,
  rmsprop,
  adagrad,
  adamax,
  nadam,
  radam,
  adafactor,
  lion,
  signum,
  signSgd,
  novograd,
};

const KEYS = ["w", "b"] as const;

function leafTree(values: Leaves, shapes: Case["shapes"]) {
  return {
    w: np.array(Float32Array.from(values.w), { shape: shapes.w }),
    b: np.array(Float32Array.from(values.b), { shape: shapes.b }),
  };
}

/** Replay a case; returns a message for the first step whose parameters are off, or null. */
function replay(c: Case): string | null {
  const opt = factories[c.optimizer](c.options);
  let params = leafTree(c.init, c.shapes);
  let state = opt.init(tree.ref(params));
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
        const { ratio, index } = closeness(actual, expected, RTOL, ATOL);
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

beforeAll(setup);

describe("golden trajectories (tools/fixtures/classic_optimizers.py)", () => {
  test("the fixture covers every classic optimizer with 20+ steps", () => {
    const covered = new Set(fixture.cases.map((c) => c.optimizer));
    expect([...covered].sort()).toEqual(Object.keys(factories).sort());
    for (const c of fixture.cases) {
      expect(c.grads.length, c.name).toBeGreaterThanOrEqual(20);
      expect(c.params.length, c.name).toBe(c.grads.length);
      expect(c.init.w.length, c.name).toBe(c.shapes.w[0] * c.shapes.w[1]);
    }
  });

  test.each(fixture.cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    expect(replay(c)).toBeNull();
  });
});
