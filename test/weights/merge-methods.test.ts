/**
 * The geometric and other non-task-arithmetic merge methods (slerp, nuslerp, multislerp, karcher,
 * model_stock, nearswap, sce, passthrough), called directly through their MergeMethod.merge:
 * - against test/fixtures/merge-geometric/cases.json, mergekit's math re-written in torch float64
 *   (tools/fixtures/mergekit_geometric.py), to 1e-5;
 * - against closed-form properties (slerp's end points, karcher of identical unit tensors,
 *   model_stock's t = 1 for identical offsets, passthrough's identity);
 * - bad inputs give one line naming the problem, and no array is leaked.
 */
import { readFileSync } from "node:fs";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import type { MergeInput, MergeMethod, ParamValue } from "../../src/weights/merge/method.js";
import { karcher } from "../../src/weights/merge/methods/karcher.js";
import { modelStock } from "../../src/weights/merge/methods/model-stock.js";
import { multislerp } from "../../src/weights/merge/methods/multislerp.js";
import { nearswap } from "../../src/weights/merge/methods/nearswap.js";
import { nuslerp } from "../../src/weights/merge/methods/nuslerp.js";
import { passthrough } from "../../src/weights/merge/methods/passthrough.js";
import { sce } from "../../src/weights/merge/methods/sce.js";
import { slerp } from "../../src/weights/merge/methods/slerp.js";
import { closeness, liveBuffers, read, setup } from "../helpers/engine.js";

interface Case {
  method: string;
  name: string;
  shape: number[];
  tensors: number[][];
  base: number[] | null;
  modelParams: Record<string, ParamValue>[];
  params: Record<string, ParamValue>;
  expected: number[];
}

const fixture: { cases: Case[] } = JSON.parse(
  readFileSync(new URL("../fixtures/merge-geometric/cases.json", import.meta.url), "utf8"),
);

const METHODS: Record<string, MergeMethod> = {
  slerp,
  nuslerp,
  multislerp,
  karcher,
  model_stock: modelStock,
  nearswap,
  sce,
  passthrough,
};

const TOL = 1e-5;

const arr = (values: number[], shape: number[]) => np.array(values, { shape });

/** The method's parameters with its defaults filled in (the caller's job in `rankwise merge`). */
function input(
  method: MergeMethod,
  tensors: np.Array[],
  base: np.Array | undefined,
  modelParams: Record<string, ParamValue>[],
  params: Record<string, ParamValue>,
): MergeInput {
  const globals: Record<string, ParamValue> = {};
  for (const p of method.params)
    if (!p.perModel && p.default !== undefined) globals[p.name] = p.default;
  return {
    name: "model.layers.0.mlp.up_proj.weight",
    tensors,
    base,
    modelParams,
    params: { ...globals, ...params },
    seed: 0,
  };
}

function run(c: Case): Float64Array {
  const method = METHODS[c.method];
  const tensors = c.tensors.map((t) => arr(t, c.shape));
  const base = c.base === null ? undefined : arr(c.base, c.shape);
  const out = method.merge(input(method, tensors, base, c.modelParams, c.params));
  expect(out.shape).toEqual(c.shape);
  const values = read(out);
  out.dispose();
  return values;
}

beforeAll(setup);

describe("matches mergekit's math (torch float64 reference)", () => {
  for (const name of Object.keys(METHODS)) {
    const cases = fixture.cases.filter((c) => c.method === name);
    test(`${name}: ${cases.length} cases`, () => {
      expect(cases.length).toBeGreaterThan(0);
      for (const c of cases) {
        const { ratio, index } = closeness(run(c), c.expected, TOL, TOL);
        expect(ratio, `${c.method} ${c.name}: worst element ${index}`).toBeLessThanOrEqual(1);
      }
    });
  }

  test("every method leaves no array alive", async () => {
    for (const name of Object.keys(METHODS)) {
      const cases = fixture.cases.filter((c) => c.method === name);
      run(cases[0]); // compile first
      const before = await liveBuffers();
      for (const c of cases) run(c);
      expect(await liveBuffers(), name).toBe(before);
    }
  });
});

/** A seeded float32 tensor (mulberry32 + Box-Muller), independent of the fixture. */
function gauss(seed: number, n: number): number[] {
  let s = seed >>> 0;
  const u = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from(
    { length: n },
    () => Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u()),
  );
}

const close = (actual: Float64Array, expected: ArrayLike<number>, tol = TOL) =>
  expect(closeness(actual, expected, tol, tol).ratio).toBeLessThanOrEqual(1);

const merge = (
  method: MergeMethod,
  tensors: number[][],
  base: number[] | undefined,
  shape: number[],
  params: Record<string, ParamValue> = {},
  modelParams: Record<string, ParamValue>[] = tensors.map(() => ({})),
) => {
  const out = method.merge(
    input(
      method,
      tensors.map((t) => arr(t, shape)),
      base === undefined ? undefined : arr(base, shape),
      modelParams,
      params,
    ),
  );
  const values = read(out);
  out.dispose();
  return values;
};

describe("closed-form properties", () => {
  const shape = [5, 7];
  const a = gauss(1, 35);
  const b = gauss(2, 35);

  test("slerp: t = 0 gives the base, t = 1 the other model; t = 0.5 of orthogonal unit vectors", () => {
    close(merge(slerp, [b], a, shape, { t: 0 }), a);
    close(merge(slerp, [b], a, shape, { t: 1 }), b);
    // e0 and e1: the midpoint on the circle is (e0 + e1)/√2.
    const e0 = [1, 0, 0];
    const e1 = [0, 1, 0];
    close(merge(slerp, [e1], e0, [3], { t: 0.5 }), [Math.SQRT1_2, Math.SQRT1_2, 0]);
  });

  test("nuslerp and multislerp agree with slerp where they coincide", () => {
    // nuslerp (flattened, no base) with weights 1:3 is slerp with t = 0.75 away from colinearity.
    const viaSlerp = merge(slerp, [b], a, shape, { t: 0.75 });
    close(merge(nuslerp, [a, b], undefined, shape, {}, [{ weight: 1 }, { weight: 3 }]), viaSlerp);
    // multislerp of two unit-norm tensors with equal weights is their normalised mean.
    const u = [0.6, 0.8, 0];
    const v = [0, 0.6, 0.8];
    const m = [0.6, 1.4, 0.8];
    const mn = Math.hypot(...m);
    close(
      merge(multislerp, [u, v], undefined, [3], {}, [{ weight: 1 }, { weight: 1 }]),
      m.map((x) => x / mn),
    );
  });

  test("karcher: identical unit tensors give that tensor; two unit vectors give the arc midpoint", () => {
    const n = Math.hypot(...a);
    const u = a.map((x) => x / n);
    close(merge(karcher, [u, u, u], undefined, shape), u);
    close(
      merge(
        karcher,
        [
          [1, 0],
          [0, 1],
        ],
        undefined,
        [2],
      ),
      [Math.SQRT1_2, Math.SQRT1_2],
    );
  });

  test("model_stock: identical offsets give t = 1 (the models' mean); orthogonal offsets t = 0 (the base)", () => {
    const f = a.map((x, i) => x + 0.1 * b[i]);
    for (const filter_wise of [false, true]) {
      close(merge(modelStock, [f, f, f], a, shape, { filter_wise }), f);
    }
    // Offsets e0 and e1 from a zero base: cos θ = 0, t = 0.
    close(
      merge(
        modelStock,
        [
          [1, 0],
          [0, 1],
        ],
        [0, 0],
        [2],
      ),
      [0, 0],
    );
  });

  test("nearswap: elements within t become the other model's, far ones move by t", () => {
    const out = merge(nearswap, [[1.05, 3, -2]], [1, 1, 1], [3], { t: 0.1 });
    // λ = min(1, 0.1/|Δ|): 1, 0.05, 1/30.
    close(out, [1.05, 1 + 0.05 * 2, 1 + (0.1 / 3) * -3]);
  });

  test("sce with one model is that model (its weight is 1, no element erased)", () => {
    close(merge(sce, [b], a, shape, { select_topk: 1 }), b);
  });

  test("passthrough: the tensor itself, or scaled", () => {
    const a32 = a.map(Math.fround);
    expect(Array.from(merge(passthrough, [a], undefined, shape))).toEqual(a32);
    expect(Array.from(merge(passthrough, [a], undefined, shape, {}, [{ scale: -2 }]))).toEqual(
      a32.map((x) => x * -2),
    );
    expect(Array.from(merge(passthrough, [], a, shape))).toEqual(a32);
  });
});

describe("bad input: one line, nothing leaked", () => {
  const v = [1, 2, 3];
  const cases: [MergeMethod, number, boolean, Record<string, ParamValue>, RegExp][] = [
    [slerp, 2, true, { t: 0.5 }, /slerp merges exactly two models/],
    [slerp, 1, false, { t: 0.5 }, /slerp merges exactly two models/],
    [slerp, 1, true, {}, /slerp: parameter t must be a number/],
    [nuslerp, 3, false, {}, /nuslerp merges exactly two models/],
    [modelStock, 1, true, {}, /model_stock needs a base_model and at least two/],
    [nearswap, 1, true, { t: 0 }, /nearswap: parameter t must be a number > 0/],
    [sce, 2, false, {}, /sce needs a base_model/],
    [passthrough, 2, false, {}, /passthrough takes exactly one model/],
    [karcher, 2, false, { max_iter: 1.5 }, /karcher: max_iter must be an integer/],
  ];
  for (const [method, n, withBase, params, message] of cases) {
    test(`${method.name} ${JSON.stringify(params)} with ${n} model(s)${withBase ? " and a base" : ""}`, async () => {
      const before = await liveBuffers();
      const tensors = Array.from({ length: n }, () => arr(v, [3]));
      const base = withBase ? arr(v, [3]) : undefined;
      const modelParams = tensors.map(() => ({ weight: 1 }));
      expect(() => method.merge(input(method, tensors, base, modelParams, params))).toThrow(
        message,
      );
      expect(await liveBuffers()).toBe(before);
    });
  }
});
