import { numpy as np } from "@jax-js/jax";
import { beforeAll, expect, test } from "vitest";
import { stateBytes, tree } from "../../src/index.js";
import { setup } from "../helpers/engine.js";

beforeAll(setup);

test("paths, leaves and unflatten keep insertion order and structure", () => {
  const t = { b: [1, { c: 2 }], a: 3 };
  expect(tree.paths(t)).toEqual(["b.0", "b.1.c", "a"]);
  expect(tree.leaves(t)).toEqual([1, 2, 3]);
  expect(tree.unflatten(t, [4, 5, 6])).toEqual({ b: [4, { c: 5 }], a: 6 });
  expect(() => tree.unflatten(t, [1])).toThrow(/expected 3 values/);
});

test("map walks several trees in step", () => {
  const out = tree.mapWithPath(
    (x: number, path: string, y: number) => `${path}:${x + y}`,
    { a: 1, b: [2] },
    { a: 10, b: [20] },
  );
  expect(out).toEqual({ a: "a:11", b: ["b.0:22"] });
});

test("stateBytes counts every array by dtype and ignores plain values", () => {
  const t = {
    count: 7,
    mu: { w: np.zeros([3, 4]), b: np.zeros([4], { dtype: np.float64 }) },
    idx: np.zeros([5], { dtype: np.int32 }),
    name: "x",
  };
  expect(stateBytes(t)).toBe(3 * 4 * 4 + 4 * 8 + 5 * 4);
  tree.dispose(t);
});

test("share adds a reference and copies the structure", () => {
  const a = np.array([1, 2]);
  const t = { a };
  const s = tree.share(t);
  expect(s === t).toBe(false);
  expect(a.refCount).toBe(2);
  tree.dispose([t, s]);
  expect(a.refCount).toBe(0);
});
