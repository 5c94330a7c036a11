import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { dctBasis } from "../../src/linalg/index.js";
import { liveBuffers, setup } from "../helpers/engine.js";
import {
  at,
  fromArray,
  mat,
  matmul,
  maxAbsDiff,
  orthogonalityError,
  toArray,
  transpose,
} from "./host-matrix.js";

beforeAll(setup);

const formula = (n: number) =>
  mat(
    n,
    n,
    (k, i) =>
      (k === 0 ? Math.sqrt(1 / n) : Math.sqrt(2 / n)) * Math.cos((Math.PI * (i + 0.5) * k) / n),
  );

describe("dctBasis", () => {
  test("entries equal s_k cos(π (i + ½) k / n)", () => {
    for (const n of [1, 2, 3, 8, 17, 64, 300]) {
      // The reference's own argument rounding grows with i·k/n ≤ n (ours reduces it exactly).
      const tol64 = 1e-15 * (1 + n);
      expect(maxAbsDiff(fromArray(dctBasis(n, { dtype: "float64" })), formula(n))).toBeLessThan(
        tol64,
      );
      expect(maxAbsDiff(fromArray(dctBasis(n)), formula(n))).toBeLessThan(1e-7);
    }
  });

  test("is orthonormal: C Cᵀ = I", () => {
    for (const n of [5, 64, 257]) {
      const c = fromArray(dctBasis(n, { dtype: "float64" }));
      expect(orthogonalityError(transpose(c))).toBeLessThan(1e-14);
      expect(orthogonalityError(c)).toBeLessThan(1e-14);
    }
    expect(orthogonalityError(fromArray(dctBasis(128)))).toBeLessThan(1e-6);
  });

  test("the DCT of a pure cosine has a single coefficient √(n/2) (√n for the constant)", () => {
    const n = 32;
    const c = fromArray(dctBasis(n, { dtype: "float64" }));
    for (const k0 of [0, 1, 5, 31]) {
      const x = mat(n, 1, (i) => Math.cos((Math.PI * (i + 0.5) * k0) / n));
      const y = matmul(c, x);
      for (let k = 0; k < n; k++) {
        const expected = k !== k0 ? 0 : k0 === 0 ? Math.sqrt(n) : Math.sqrt(n / 2);
        expect(Math.abs(at(y, k, 0) - expected)).toBeLessThan(1e-13);
      }
    }
  });

  test("matches the DCT-II sum y_k = s_k Σ x_i cos(π (i + ½) k / n) through jax-js matmul", () => {
    const n = 12;
    const x = mat(n, 1, (i) => Math.sin(i * i + 1));
    const y = fromArray(np.matmul(dctBasis(n, { dtype: "float64" }), toArray(x, "float64")));
    for (let k = 0; k < n; k++) {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += at(x, i, 0) * Math.cos((Math.PI * (i + 0.5) * k) / n);
      expect(at(y, k, 0)).toBeCloseTo((k === 0 ? Math.sqrt(1 / n) : Math.sqrt(2 / n)) * sum, 13);
    }
  });

  test("bad options; no leaks", async () => {
    expect(() => dctBasis(0)).toThrow(RangeError);
    expect(() => dctBasis(2.5)).toThrow(RangeError);
    expect(() => dctBasis(4, { dtype: "int32" as "float32" })).toThrow(RangeError);
    const before = await liveBuffers();
    dctBasis(16).dispose();
    fromArray(dctBasis(9));
    expect(await liveBuffers()).toBe(before);
  });
});
