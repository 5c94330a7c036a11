/**
 * The primitives against closed-form expectations computed here in float64.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import {
  accumulateGradients,
  adamw,
  adaptiveGradClip,
  applyUpdates,
  centralize,
  chain,
  clipByGlobalNorm,
  clipByValue,
  injectHyperparams,
  masked,
  paramEma,
  partition,
  scale,
  sgd,
  skipNonFinite,
  tree,
} from "../../src/index.js";
import { optional } from "../../src/optim/core.js";
import { mapMulti } from "../../src/optim/leafwise.js";
import {
  decayAfterStep,
  optionalDecay,
  optionalDecayAfterStep,
  stepThenDecay,
} from "../../src/optim/transforms/weight-decay.js";
import { adamOptions } from "../../src/optim/validate.js";
import { read, setup } from "../helpers/engine.js";
import { expectNoLeaks } from "../helpers/leaks.js";

beforeAll(setup);

const arr = (values: number[], shape?: number[]) => {
  const a = np.array(values);
  return shape ? a.reshape(shape) : a;
};
const values = (a: np.Array) => Array.from(read(a));
const close = (actual: number[], expected: number[], tol = 1e-6) => {
  expect(actual.length).toBe(expected.length);
  actual.forEach((v, i) => {
    expect(v).toBeCloseTo(expected[i], -Math.log10(tol));
  });
};

describe("clipping", () => {
  test("clipByGlobalNorm rescales to the threshold only above it", () => {
    const t = clipByGlobalNorm(1);
    const s = t.init({});
    // ‖(3, 4, 12)‖ = 13 → scaled by 1/13.
    const [u] = t.update({ a: arr([3, 4]), b: arr([12]) }, s);
    close(values((u as any).a), [3 / 13, 4 / 13]);
    close(values((u as any).b), [12 / 13]);
    const [v] = t.update({ a: arr([0.3, 0.4]) }, s);
    close(values((v as any).a), [0.3, 0.4]);
    tree.dispose([u, v]);
  });

  test("clipByValue clamps each entry", () => {
    const [u] = clipByValue(0.5).update({ a: arr([-2, 0.1, 3]) }, {});
    close(values((u as any).a), [-0.5, 0.1, 0.5]);
    tree.dispose(u);
  });

  test("adaptiveGradClip clips each row to clipping × ‖row of W‖", () => {
    // W rows have norms 5 and 1; g rows have norms 10 and 0.01. clipping 0.1 → max 0.5 and 0.1.
    const w = arr([3, 4, 1, 0], [2, 2]);
    const g = arr([6, 8, 0.01, 0], [2, 2]);
    const [u] = adaptiveGradClip(0.1).update({ w: g }, {}, { w });
    close(values((u as any).w), [6 * 0.05, 8 * 0.05, 0.01, 0]);
    tree.dispose(u);
  });
});

test("centralize removes each row's mean from matrices and leaves vectors", () => {
  const [u] = centralize().update({ m: arr([1, 2, 3, 10, 10, 40], [2, 3]), v: arr([1, 2]) }, {});
  close(values((u as any).m), [-1, 0, 1, -10, -10, 20]);
  close(values((u as any).v), [1, 2]);
  tree.dispose(u);
});

describe("partition and masked", () => {
  test("partition sends each label's leaves to its transformation", () => {
    const t = partition({ double: scale(2), neg: scale(-1) }, (_leaf, path) =>
      path === "a" ? "double" : "neg",
    );
    const s = t.init({ a: np.zeros([1]), b: np.zeros([1]) });
    const [u] = t.update({ a: arr([3]), b: arr([5]) }, s);
    close(values((u as any).a), [6]);
    close(values((u as any).b), [-5]);
    tree.dispose(u);
  });

  test("partition names a missing label", () => {
    const t = partition({ a: scale(1) }, () => "b");
    expect(() => t.init({ x: np.zeros([1]) })).toThrow(/label "b"/);
  });

  test("masked leaves unmasked updates untouched, by tree or by function", () => {
    const byTree = masked(scale(10), { a: true, b: false });
    const [u] = byTree.update(
      { a: arr([1]), b: arr([1]) },
      byTree.init({ a: np.zeros([1]), b: np.zeros([1]) }),
    );
    close(values((u as any).a), [10]);
    close(values((u as any).b), [1]);
    const byFn = masked(scale(10), (leaf) => leaf.ndim === 2);
    const p = { m: np.zeros([1, 1]), v: np.zeros([1]) };
    const [w] = byFn.update({ m: arr([1], [1, 1]), v: arr([1]) }, byFn.init(p));
    close(values((w as any).m), [10]);
    close(values((w as any).v), [1]);
    tree.dispose([u, w]);
  });
});

describe("skipNonFinite", () => {
  test("a NaN step is skipped, the inner state untouched and the skip counted", () => {
    const t = skipNonFinite(sgd({ learningRate: 0.1, momentum: 0.9 }));
    let params: any = { w: arr([1, 2]) };
    let state = t.init(tree.ref(params));
    let [u, s] = t.update({ w: arr([1, 1]) }, state, tree.ref(params));
    params = applyUpdates(params, u);
    state = s;
    const traceBefore = values((state.inner as any)[0].trace.w);
    [u, s] = t.update({ w: arr([Number.NaN, 1]) }, state, tree.ref(params));
    close(values((u as any).w), [0, 0]);
    expect(s.skipped).toBe(1);
    close(values((s.inner as any)[0].trace.w), traceBefore);
    params = applyUpdates(params, u);
    close(values(params.w), [0.9, 1.9]);
    tree.dispose([params, s]);
  });
});

test("accumulateGradients applies the mean of k micro-steps once every k calls", () => {
  const t = accumulateGradients(sgd({ learningRate: 1 }), 3);
  const p = () => ({ w: arr([0]) });
  let state = t.init(p());
  const seen: number[] = [];
  for (const g of [3, 6, 9, 1, 1, 1]) {
    const [u, s] = t.update({ w: arr([g]) }, state, p());
    seen.push(values((u as any).w)[0]);
    tree.dispose(u);
    state = s;
  }
  close(seen, [0, 0, -6, 0, 0, -1]);
  tree.dispose(state);
});

test("paramEma follows ē ← dē + (1−d)p, with Adam-style debiasing", () => {
  const ema = paramEma({ decay: 0.5, debias: true });
  let s = ema.init({ w: arr([0]) });
  s = ema.update({ w: arr([2]) }, s); // 0.5·0 + 0.5·2 = 1, debiased /(1−0.5) = 2
  s = ema.update({ w: arr([4]) }, s); // 0.5·1 + 0.5·4 = 2.5, debiased /(1−0.25) = 10/3
  const v = ema.value(s);
  close(values((v as any).w), [10 / 3]);
  tree.dispose([v, s]);
});

test("injectHyperparams: a changed learning rate takes effect at the next step", () => {
  const opt = injectHyperparams(sgd, { learningRate: 0.1 });
  const params = { w: arr([1]) };
  let state = opt.init(tree.ref(params));
  let [u, s] = opt.update({ w: arr([1]) }, state, tree.ref(params));
  close(values((u as any).w), [-0.1]);
  tree.dispose(u);
  s.hyperparams.learningRate = 0.5;
  [u, state] = opt.update({ w: arr([1]) }, s, tree.ref(params));
  close(values((u as any).w), [-0.5]);
  expect(state.hyperparams.learningRate).toBe(0.5);
  tree.dispose([u, state, params]);
});

test("a scheduled hyperparameter is evaluated at every step and recorded", () => {
  const opt = injectHyperparams(sgd, { learningRate: (step: number) => 0.1 * (step + 1) });
  let state = opt.init({ w: arr([0]) });
  const lrs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const [u, s] = opt.update({ w: arr([1]) }, state, { w: arr([0]) });
    lrs.push(-values((u as any).w)[0]);
    tree.dispose(u);
    state = s;
    expect(state.hyperparams.learningRate).toBeCloseTo(0.1 * (i + 1));
  }
  close(lrs, [0.1, 0.2, 0.3]);
  tree.dispose(state);
});

test("a chain of primitives leaks nothing over many steps", async () => {
  await expectNoLeaks({
    make: () => chain(clipByGlobalNorm(1), centralize(), adamw({ learningRate: 1e-2 })),
    params: () => ({ w: np.ones([3, 2]), b: np.ones([2]) }),
    grads: (step) => ({ w: np.ones([3, 2]).mul(0.5 + step), b: np.ones([2]).mul(-0.5) }),
    steps: 20,
  });
});

describe("shared pieces", () => {
  test("decayAfterStep: p' = (p + u)·(1 − η(t)·λ), η read at each step", () => {
    const lr = (t: number) => 0.1 * (t + 1);
    const opt = decayAfterStep(lr, 0.5);
    let state = opt.init({ w: arr([1, -2]) });
    for (let t = 0; t < 2; t++) {
      const p = [3, -1];
      const u = [0.5, 0.25];
      const [out, next] = opt.update({ w: arr(u) }, state, { w: arr(p) });
      state = next;
      const r = lr(t) * 0.5;
      // The update that applyUpdates adds: (p + u)(1 − r) − p.
      close(
        values((out as any).w),
        [0, 1].map((i) => (p[i] + u[i]) * (1 - r) - p[i]),
      );
      tree.dispose(out);
    }
    expect(state).toEqual({ count: 2 });
    expect(() => opt.update({ w: arr([1]) }, state)).toThrow(/needs params/);
  });

  test("stepThenDecay is the same rule for one leaf", () => {
    close(values(stepThenDecay(arr([0.5, 0.25]), arr([3, -1]), 0.1)), [
      0.5 * 0.9 - 0.3,
      0.25 * 0.9 + 0.1,
    ]);
  });

  test("optional / optionalDecay: no entry (and no state) when off", () => {
    expect(optional(false, () => scale(2))).toEqual([]);
    expect(optional(true, () => scale(2))).toHaveLength(1);
    expect(optionalDecay(0)).toEqual([]);
    expect(optionalDecayAfterStep(0.1, 0)).toEqual([]);
    const [decay] = optionalDecay(0.5);
    const [u] = decay.update({ w: arr([1]) }, decay.init({ w: arr([2]) }), { w: arr([2]) });
    close(values((u as any).w), [1 + 0.5 * 2]);
  });

  test("mapMulti returns one tree per output, shaped like the first input", () => {
    const [sum, diff] = mapMulti(
      2,
      (a, b) => [a.ref.add(b.ref), a.sub(b)],
      { x: arr([1, 2]), y: [arr([5])] },
      { x: arr([10, 20]), y: [arr([1])] },
    );
    close(values((sum as any).x), [11, 22]);
    close(values((diff as any).y[0]), [4]);
    tree.dispose([sum, diff]);
    // An empty tree still gives `count` (empty) trees.
    expect(mapMulti(3, (a) => [a.ref, a.ref, a], {})).toEqual([{}, {}, {}]);
    const wrong = ((a: np.Array) => [a]) as unknown as (a: np.Array) => [np.Array, np.Array];
    expect(() => mapMulti(2, wrong, { x: arr([1]) })).toThrow(/returned 1 arrays, expected 2/);
  });

  test("adamOptions checks the Adam hyperparameters a method has, and only those", () => {
    expect(adamOptions({ b1: 0.9, b2: 0.99, eps: 0 })).toEqual({ b1: 0.9, b2: 0.99, eps: 0 });
    expect(adamOptions({ eps: 1e-8 })).toEqual({ eps: 1e-8 });
    expect(() => adamOptions({ b1: 1 })).toThrow(/b1 must be in \[0, 1\)/);
    expect(() => adamOptions({ b2: -0.1 })).toThrow(/b2 must be in \[0, 1\)/);
    expect(() => adamOptions({ eps: -1 })).toThrow(/eps must be ≥ 0/);
  });
});
