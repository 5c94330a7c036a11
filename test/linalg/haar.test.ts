import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { fromHost } from "../../src/linalg/host.js";
import {
  haarBasis,
  haarForward,
  haarInverse,
  haarPack,
  haarUnpack,
  maxHaarLevels,
} from "../../src/linalg/index.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";
import {
  fromArray,
  mat,
  maxAbsDiff,
  orthogonalityError,
  toArray,
  transpose,
} from "./host-matrix.js";

beforeAll(setup);

const r2 = Math.SQRT2;
const vec = (values: number[], dtype: "float32" | "float64" = "float64") =>
  fromHost(Float64Array.from(values), [values.length], dtype);
const values = (a: np.Array) => {
  const out = Array.from(read(a));
  a.dispose();
  return out;
};
const close = (actual: number[], expected: number[], tol: number) => {
  expect(actual.length).toBe(expected.length);
  actual.forEach((x, i) => {
    expect(Math.abs(x - expected[i])).toBeLessThan(tol);
  });
};

/** Test-side reference: one Haar level on a plain array. */
const level = (x: number[]) => ({
  a: x.filter((_, i) => i % 2 === 0).map((e, j) => (e + x[2 * j + 1]) / r2),
  d: x.filter((_, i) => i % 2 === 0).map((e, j) => (e - x[2 * j + 1]) / r2),
});

describe("haar", () => {
  test("known coefficients of [1, 2, 3, 4]", () => {
    const one = haarForward(vec([1, 2, 3, 4]), 1);
    close(values(one.approximation), [3 / r2, 7 / r2], 1e-15);
    close(values(one.details[0]), [-1 / r2, -1 / r2], 1e-15);
    const two = haarForward(vec([1, 2, 3, 4]), 2);
    close(values(two.approximation), [5], 1e-15);
    close(values(two.details[1]), [-2], 1e-15);
    close(values(two.details[0]), [-1 / r2, -1 / r2], 1e-15);
  });

  test("three levels of an 8-vector match the level-by-level definition; packed order", () => {
    const x = [4, 2, 5, 5, 1, 1, 0, 2];
    const l1 = level(x);
    const l2 = level(l1.a);
    const l3 = level(l2.a);
    const coefficients = haarForward(vec(x), 3);
    close(values(haarPack(coefficients)), [...l3.a, ...l3.d, ...l2.d, ...l1.d], 1e-14);
  });

  test("exact inverse and energy preservation along either axis of a matrix", () => {
    const x = mat(16, 24, (i, j) => Math.sin(i * 1.7 + j * j * 0.3) * (1 + i));
    const energy = x.data.reduce((s, v) => s + v * v, 0);
    for (const [axis, levels] of [
      [0, 4],
      [1, 3],
      [-1, 2],
    ]) {
      for (const dtype of ["float64", "float32"] as const) {
        const c = haarForward(toArray(x, dtype), levels, axis);
        const parts = [c.approximation, ...c.details].map((a) => read(a));
        const e = parts.reduce((s, p) => s + p.reduce((t, v) => t + v * v, 0), 0);
        expect(Math.abs(e - energy) / energy).toBeLessThan(dtype === "float64" ? 1e-14 : 1e-6);
        const back = fromArray(haarInverse(c, axis));
        expect(maxAbsDiff(back, x)).toBeLessThan(dtype === "float64" ? 1e-13 : 1e-5);
      }
    }
  });

  test("transforms along the middle axis of a 3-D array", () => {
    const data = Float64Array.from({ length: 2 * 8 * 3 }, (_, i) => Math.cos(i));
    const x = fromHost(data, [2, 8, 3], "float64");
    const c = haarForward(x, 2, 1);
    expect(c.approximation.shape).toEqual([2, 2, 3]);
    expect(c.details.map((d) => d.shape)).toEqual([
      [2, 4, 3],
      [2, 2, 3],
    ]);
    // compare one fibre with the reference
    const fibre = [0, 1, 2, 3, 4, 5, 6, 7].map((t) => data[(1 * 8 + t) * 3 + 2]);
    const l2 = level(level(fibre).a);
    const approx = read(c.approximation);
    close([approx[(1 * 2 + 0) * 3 + 2], approx[(1 * 2 + 1) * 3 + 2]], l2.a, 1e-14);
    close(values(haarInverse(c, 1)), Array.from(data), 1e-14);
  });

  test("haarBasis is orthogonal and applies the packed transform", () => {
    const n = 16;
    const h = fromArray(haarBasis(n, 3, { dtype: "float64" }));
    expect(orthogonalityError(h)).toBeLessThan(1e-15);
    expect(orthogonalityError(transpose(h))).toBeLessThan(1e-15);
    const x = Array.from({ length: n }, (_, i) => Math.sin(i * i));
    const viaBasis = Array.from({ length: n }, (_, k) =>
      x.reduce((s, v, i) => s + h.data[k * n + i] * v, 0),
    );
    close(values(haarPack(haarForward(vec(x), 3))), viaBasis, 1e-14);
  });

  test("pack/unpack round trip; levels 0 is the identity; maxHaarLevels", () => {
    const x = mat(4, 12, (i, j) => i * 12 + j);
    const packed = haarPack(haarForward(toArray(x, "float64"), 2, 1), 1);
    const back = fromArray(haarInverse(haarUnpack(packed, 2, 1), 1));
    expect(maxAbsDiff(back, x)).toBeLessThan(1e-13);
    const same = haarForward(toArray(x, "float64"), 0, 0);
    expect(same.details).toEqual([]);
    expect(maxAbsDiff(fromArray(same.approximation), x)).toBe(0);
    expect([maxHaarLevels(12), maxHaarLevels(7), maxHaarLevels(1024)]).toEqual([2, 0, 10]);
  });

  test("lengths not divisible by 2^levels, bad axes and dtypes throw", () => {
    const x = np.zeros([6, 4]);
    expect(() => haarForward(x.ref, 2, 0)).toThrow(RangeError);
    expect(() => haarForward(x.ref, 1, 2)).toThrow(RangeError);
    expect(() => haarForward(x.ref, -1, 0)).toThrow(RangeError);
    expect(() => haarForward(np.zeros([4], { dtype: np.int32 }), 1)).toThrow(TypeError);
    x.dispose();
  });

  test("leaks no buffers", async () => {
    const before = await liveBuffers();
    const x = toArray(mat(8, 8, (i, j) => i - j));
    haarInverse(haarUnpack(haarPack(haarForward(x, 3, 0), 0), 3, 0), 0).dispose();
    haarBasis(8, 2).dispose();
    expect(await liveBuffers()).toBe(before);
  });
});
