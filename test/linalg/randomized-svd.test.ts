import { random } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { lowRankBasis, randomizedSvd, svd } from "../../src/linalg/index.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";
import {
  at,
  columns,
  fromArray,
  type Mat,
  mat,
  maxAbsDiff,
  orthogonal,
  orthogonalityError,
  toArray,
  transpose,
  usv,
  vector,
} from "./host-matrix.js";

beforeAll(setup);

// 200×120 with a fast-decaying known spectrum s_i = 0.6^i and known singular vectors.
const m = 200;
const n = 120;
const spectrum = Array.from({ length: n }, (_, i) => 0.6 ** i);
const U = columns(orthogonal(m), 0, n);
const V = orthogonal(n);
const A = usv(U, spectrum, V);

/** |⟨x, y⟩| for columns i of two matrices: 1 when they span the same line. */
function alignment(x: Mat, y: Mat, i: number): number {
  let dot = 0;
  for (let r = 0; r < x.m; r++) dot += at(x, r, i) * at(y, r, i);
  return Math.abs(dot);
}

describe("randomizedSvd", () => {
  test("recovers the top singular values and vectors of a fast-decaying spectrum", () => {
    const rank = 8;
    const { u, s, vt } = randomizedSvd(toArray(A), rank, { seed: 1 });
    const values = vector(s);
    const uu = fromArray(u);
    const v = transpose(fromArray(vt));
    expect([uu.m, uu.n, v.m, v.n]).toEqual([m, rank, n, rank]);
    values.forEach((x, i) => {
      expect(Math.abs(x - spectrum[i])).toBeLessThan(1e-5);
    });
    for (let i = 0; i < rank; i++) {
      expect(1 - alignment(uu, U, i)).toBeLessThan(1e-4);
      expect(1 - alignment(v, V, i)).toBeLessThan(1e-4);
    }
    expect(orthogonalityError(uu)).toBeLessThan(1e-6);
    expect(orthogonalityError(v)).toBeLessThan(1e-6);
  });

  test("more power iterations shrink the error on a slowly decaying spectrum", () => {
    const slow = Array.from({ length: n }, (_, i) => 1 / (1 + i));
    const a = usv(U, slow, V);
    const error = (powerIters: number) => {
      const { u, s, vt } = randomizedSvd(toArray(a), 5, { oversample: 2, powerIters, seed: 3 });
      u.dispose();
      vt.dispose();
      return vector(s).reduce((worst, x, i) => Math.max(worst, Math.abs(x - slow[i]) / slow[i]), 0);
    };
    const e0 = error(0);
    const e3 = error(3);
    expect(e3).toBeLessThan(e0 / 5);
    expect(e3).toBeLessThan(0.05);
  });

  test("with oversampling to full rank it equals the exact SVD", () => {
    const a = mat(30, 12, (i, j) => Math.sin(i * i * 0.37 + j * j * j * 0.11 + i * j));
    const exact = svd(toArray(a));
    const approx = randomizedSvd(toArray(a), 12, { oversample: 5, powerIters: 0 });
    expect(maxAbsDiff(fromArray(approx.u), fromArray(exact.u))).toBeLessThan(1e-5);
    expect(maxAbsDiff(fromArray(approx.vt), fromArray(exact.vt))).toBeLessThan(1e-5);
    const sa = vector(approx.s);
    vector(exact.s).forEach((x, i) => {
      expect(Math.abs(sa[i] - x)).toBeLessThan(1e-5);
    });
  });

  test("deterministic for a seed or key; results are sign-normalised", () => {
    const run = (options: Parameters<typeof randomizedSvd>[2]) => {
      const { u, s, vt } = randomizedSvd(toArray(A), 4, options);
      const out = [read(u), read(s), read(vt)];
      u.dispose();
      s.dispose();
      vt.dispose();
      return out;
    };
    const a = run({ seed: 7 });
    expect(run({ seed: 7 })).toEqual(a);
    expect(run({ key: random.key(7) })).toEqual(a);
    const other = run({ seed: 8 });
    expect(other[0]).not.toEqual(a[0]);
    // a different seed still finds the same subspace (up to rounding), with the same signs
    other[0].forEach((x, i) => {
      expect(Math.abs(x - a[0][i])).toBeLessThan(1e-4);
    });
  });

  test("bad options", () => {
    const a = toArray(mat(6, 4, (i, j) => i + j));
    expect(() => randomizedSvd(a.ref, 0)).toThrow(RangeError);
    expect(() => randomizedSvd(a.ref, 5)).toThrow(RangeError);
    expect(() => randomizedSvd(a.ref, 2, { oversample: -1 })).toThrow(RangeError);
    expect(() => randomizedSvd(a.ref, 2, { powerIters: 1.5 })).toThrow(RangeError);
    const key = random.key(0);
    expect(() => randomizedSvd(a.ref, 2, { seed: 1, key: key.ref })).toThrow(TypeError);
    key.dispose();
    a.dispose();
  });

  test("leaks no buffers", async () => {
    const before = await liveBuffers();
    const { u, s, vt } = randomizedSvd(toArray(A), 3, { key: random.key(2) });
    u.dispose();
    s.dispose();
    vt.dispose();
    lowRankBasis(toArray(A), 3, "left").dispose();
    lowRankBasis(toArray(A), 3, "right", { method: "randomized" }).dispose();
    expect(await liveBuffers()).toBe(before);
  });
});

describe("lowRankBasis", () => {
  test("'left' is U[:, :r] and 'right' is Vᵀ[:r, :] of the exact SVD", () => {
    const { u, s, vt } = svd(toArray(A));
    s.dispose();
    const uFull = fromArray(u);
    const vtFull = fromArray(vt);
    const left = fromArray(lowRankBasis(toArray(A), 6, "left"));
    const right = fromArray(lowRankBasis(toArray(A), 6, "right"));
    expect([left.m, left.n, right.m, right.n]).toEqual([m, 6, 6, n]);
    expect(maxAbsDiff(left, columns(uFull, 0, 6))).toBe(0);
    expect(maxAbsDiff(right, transpose(columns(transpose(vtFull), 0, 6)))).toBe(0);
    for (let i = 0; i < 6; i++) expect(1 - alignment(left, U, i)).toBeLessThan(1e-6);
  });

  test("the randomized method gives the same basis on a fast-decaying spectrum", () => {
    const exact = fromArray(lowRankBasis(toArray(A), 5, "left"));
    const approx = fromArray(
      lowRankBasis(toArray(A), 5, "left", { method: "randomized", seed: 4 }),
    );
    expect(maxAbsDiff(exact, approx)).toBeLessThan(1e-4);
  });

  test("bad options", () => {
    const a = toArray(mat(5, 4, (i, j) => i * j + 1));
    expect(() => lowRankBasis(a.ref, 2, "up" as "left")).toThrow(RangeError);
    expect(() => lowRankBasis(a.ref, 2, "left", { method: "qr" as "svd" })).toThrow(RangeError);
    expect(() => lowRankBasis(a.ref, 9, "left")).toThrow(RangeError);
    a.dispose();
  });
});
