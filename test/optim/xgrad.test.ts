/**
 * XGrad weight prediction (src/optim/optimizers/xgrad.ts). Golden trajectories:
 * test/fixtures/xgrad.json from tools/fixtures/xgrad.py (torch Adam/AdamW with the authors'
 * prediction rule, on a quadratic whose gradient depends on the weights, so the point where it is
 * taken matters); every step to 1e-4 relative. Plus: no prediction before the first step, and the
 * registry entry's `predict` is the same rule.
 */
import { readFileSync } from "node:fs";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { applyUpdates } from "../../src/optim/core.js";
import { adam, adamw } from "../../src/optim/optimizers/adam.js";
import { xgradPredict } from "../../src/optim/optimizers/xgrad.js";
import { getOptimizer } from "../../src/train/registry.js";
import { closeness, read, setup } from "../helpers/engine.js";

type Leaves = { w: number[]; b: number[] };
interface Fixture {
  meta: { rtol: number; atol: number; steps: number };
  shapes: { w: number[]; b: number[] };
  init: Leaves;
  target: Leaves;
  curvature: Leaves;
  noise: Leaves[];
  cases: { name: string; options: Record<string, any>; steps: number; params: Leaves[] }[];
}
const f: Fixture = JSON.parse(
  readFileSync(new URL("../fixtures/xgrad.json", import.meta.url), "utf8"),
);
const KEYS = ["w", "b"] as const;
const leaves = (v: Leaves) => ({
  w: np.array(Float32Array.from(v.w), { shape: f.shapes.w }),
  b: np.array(Float32Array.from(v.b), { shape: f.shapes.b }),
});

/** grad = h ⊙ (at − target) + noise_t (consumes `at`). */
const gradAt = (at: any, t: number) =>
  tree.map(
    (x: np.Array, h: np.Array, c: np.Array, n: np.Array) => x.sub(c).mul(h).add(n),
    at,
    leaves(f.curvature),
    leaves(f.target),
    leaves(f.noise[t]),
  );

/** Replay a case with `predict(params, state, o)` giving the point of the gradient. */
function replay(
  c: Fixture["cases"][number],
  predict: (params: any, state: any) => any,
): string | null {
  const o = c.options;
  const opts = {
    learningRate: o.learningRate,
    b1: o.b1 ?? 0.9,
    b2: o.b2 ?? 0.999,
    eps: o.eps ?? 1e-8,
  };
  const opt = o.kind === "adamw" ? adamw({ ...opts, weightDecay: o.weightDecay ?? 0 }) : adam(opts);
  let params: any = leaves(f.init);
  let state: any = opt.init(tree.ref(params));
  try {
    for (let t = 0; t < f.meta.steps; t++) {
      const at = predict(tree.ref(params), state);
      const [u, next] = opt.update(gradAt(at, t), state, tree.ref(params));
      state = next;
      params = applyUpdates(params, u);
      for (const k of KEYS) {
        const actual = read(params[k]);
        const { ratio, index } = closeness(actual, c.params[t][k], f.meta.rtol, f.meta.atol);
        if (!(ratio <= 1))
          return `${c.name}: step ${t + 1}, ${k}[${index}] off by ${ratio.toPrecision(3)}× the tolerance`;
      }
    }
  } finally {
    tree.dispose([params, state]);
  }
  return null;
}

beforeAll(setup);

describe("golden trajectories (tools/fixtures/xgrad.py)", () => {
  test.each(f.cases.map((c) => [c.name, c] as const))("%s", (_n, c) => {
    const o = c.options;
    const rule = {
      learningRate: o.learningRate,
      b1: o.b1 ?? 0.9,
      b2: o.b2 ?? 0.999,
      eps: o.eps ?? 1e-8,
      steps: c.steps,
    };
    // Adam's state is the first in both chains (adam without decay: scaleByAdam, lr).
    expect(replay(c, (p, s) => xgradPredict(p, s[0], rule))).toBeNull();
    // Without the prediction the trajectory is another one.
    expect(replay(c, (p) => p)).not.toBeNull();
  });

  test("the registry's xgrad-adamw predicts with its own state and the step's learning rate", () => {
    const c = f.cases.find((x) => x.name === "xgrad/adamw-s1")!;
    const { kind: _kind, learningRate, ...rest } = c.options;
    const entry = getOptimizer("xgrad-adamw");
    const opt = entry.create({ ...rest, learningRate, predictSteps: c.steps });
    // replay builds its own AdamW; check the entry's predict against the rule on one state.
    let params: any = leaves(f.init);
    let state: any = opt.init(tree.ref(params));
    const [u, next] = opt.update(gradAt(tree.ref(params), 0), state, tree.ref(params));
    state = next;
    params = applyUpdates(params, u);
    const viaEntry: any = entry.predict!(tree.ref(params), state, () => learningRate, {
      ...rest,
      predictSteps: c.steps,
    });
    const direct: any = xgradPredict(tree.ref(params), state[0], {
      learningRate,
      b1: rest.b1,
      b2: rest.b2,
      eps: 1e-8,
      steps: c.steps,
    });
    for (const k of KEYS)
      expect(Array.from(read(viaEntry[k]))).toEqual(Array.from(read(direct[k])));
    tree.dispose([params, state, viaEntry, direct]);
  });
});

test("before the first step the weights are not moved", () => {
  const opt = adam({ learningRate: 0.1 });
  const params = leaves(f.init);
  const state: any = opt.init(tree.ref(params));
  const at: any = xgradPredict(params, state[0], {
    learningRate: 0.1,
    b1: 0.9,
    b2: 0.999,
    eps: 1e-8,
  });
  expect(Array.from(read(at.w))).toEqual(Array.from(Float32Array.from(f.init.w)));
  tree.dispose([at, state]);
});

test("the trainer takes xgrad-adamw's gradient at the predicted weights (from step 2 on)", async () => {
  const { mkdtempSync, readFileSync: read1 } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { validateConfig } = await import("../../src/train/config.js");
  const { train } = await import("../../src/train/trainer.js");
  const losses = async (optimizer: string) => {
    const out = mkdtempSync(join(tmpdir(), "rankwise-xgrad-"));
    const config = validateConfig({
      model: "tiny",
      seqLen: 16,
      batchSize: 2,
      steps: 3,
      warmup: 0,
      lr: 0.01,
      evalEvery: 0,
      evalBatches: 1,
      checkpointEvery: 0,
      logEvery: 1,
      sampleLength: 0,
      optimizer,
      optimizerOptions: { weightDecay: 0.01 },
    });
    await train({ config, out, quiet: true });
    return read1(join(out, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((r) => r.type === "train")
      .map((r) => r.loss as number);
  };
  const [plain, predicted] = [await losses("adamw"), await losses("xgrad-adamw")];
  // Step 1: no moments yet, so no prediction: the same loss. Then the gradient point differs.
  expect(predicted[0]).toBe(plain[0]);
  expect(predicted[2]).not.toBe(plain[2]);
});
