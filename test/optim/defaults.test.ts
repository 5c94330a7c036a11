/**
 * Defaults in one place: for every registered optimizer, the options `rankwise optimizers`
 * advertises are the ones its factory really uses. `create({ learningRate })` and
 * `create({ learningRate, ...every advertised default })` must give bit-identical updates and
 * states over a few steps, on a tree with a matrix (projected or preconditioned by the matrix
 * methods) and a vector. A second pass shortens the refresh periods in both runs, so that the
 * projected and preconditioned methods also refresh. And every advertised name is accepted by its
 * factory, while an unknown one is refused.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { applyUpdates } from "../../src/optim/core.js";
import { withLoss } from "../../src/optim/loss-context.js";
import {
  getOptimizer,
  type OptimizerEntry,
  optimizerNames,
  parseOptimizerOptions,
} from "../../src/train/registry.js";
import { read, setup } from "../helpers/engine.js";

beforeAll(setup);

const STEPS = 4;

/** Periods shortened in both runs of the second pass (when the optimizer has them). */
const SHORT_PERIODS: Record<string, number> = {
  updateProjGap: 2,
  precondFrequency: 2,
  startPrecondStep: 2,
  resetInterval: 3,
};

const fill = (shape: number[], salt: number) =>
  np.array(
    Float32Array.from(
      { length: shape.reduce((a, b) => a * b, 1) },
      (_, i) => Math.sin(0.37 * i + salt) + 0.1 * Math.cos(1.3 * i * salt),
    ),
    { shape },
  );

const params = () => ({ "layer.w": fill([8, 12], 0.5), "layer.b": fill([12], 1.5) });
const grads = (step: number) => ({
  "layer.w": fill([8, 12], 2 + step),
  "layer.b": fill([12], 7 + step),
});

/** Every advertised default, as the options object a user could have written by hand. */
const advertised = (entry: OptimizerEntry) =>
  Object.fromEntries(
    entry.options.filter((o) => o.default !== undefined).map((o) => [o.name, o.default]),
  );

/** Leaves of a tree as comparable values: arrays become shape, dtype and data. */
function snapshot(t: unknown): unknown[] {
  return tree
    .leaves(t as any)
    .map((leaf) =>
      tree.isArray(leaf)
        ? { shape: leaf.shape, dtype: leaf.dtype, data: Array.from(read(leaf)) }
        : leaf,
    );
}

/** Run two optimizers side by side; returns the snapshots of each one's updates and states. */
function run(entry: OptimizerEntry, a: Record<string, unknown>, b: Record<string, unknown>) {
  const lr = entry.defaultLearningRate;
  const sides = [
    entry.create({ ...a, learningRate: lr }),
    entry.create({ ...b, learningRate: lr }),
  ];
  const trace: unknown[][][] = [[], []];
  sides.forEach((opt, k) => {
    let p: any = params();
    let state = opt.init(tree.ref(p));
    trace[k].push(tree.paths(state));
    for (let step = 0; step < STEPS; step++) {
      // A loss for the methods whose rule reads it (SANIA); the others ignore it.
      const [updates, next] = withLoss(1 + step, () => opt.update(grads(step), state, tree.ref(p)));
      state = next;
      trace[k].push(snapshot(updates), tree.paths(state), snapshot(state));
      p = applyUpdates(p, updates);
    }
    trace[k].push(snapshot(p));
    tree.dispose([p, state]);
  });
  return trace;
}

describe.each(optimizerNames())("%s", (name) => {
  const entry = getOptimizer(name);

  test("create({}) and create(every advertised default) step identically", () => {
    const [plain, explicit] = run(entry, {}, advertised(entry));
    expect(explicit).toEqual(plain);
  });

  const periods = Object.fromEntries(
    entry.options
      .filter((o) => o.name in SHORT_PERIODS)
      .map((o) => [o.name, SHORT_PERIODS[o.name]]),
  );
  test.runIf(Object.keys(periods).length > 0)(
    "the same with short refresh periods (refreshes included)",
    () => {
      const [plain, explicit] = run(entry, periods, { ...advertised(entry), ...periods });
      expect(explicit).toEqual(plain);
    },
  );

  test("every advertised option is accepted by the factory; an unknown one is refused", () => {
    const learningRate = entry.defaultLearningRate;
    for (const o of entry.options) {
      const value = o.default ?? (o.type === "number" ? 1 : o.type === "boolean" ? false : "");
      // The CLI's parser takes the value's text, as from `--opt name=value`.
      const parsed = parseOptimizerOptions(entry, { [o.name]: String(value) });
      expect(parsed[o.name], o.name).toEqual(value);
      expect(() => entry.create({ ...parsed, learningRate }), o.name).not.toThrow(/unknown option/);
    }
    expect(() => entry.create({ learningRate, noSuchOption: 1 })).toThrow(
      /unknown option "noSuchOption"/,
    );
    expect(() => parseOptimizerOptions(entry, { noSuchOption: "1" })).toThrow(/noSuchOption/);
  });
});
