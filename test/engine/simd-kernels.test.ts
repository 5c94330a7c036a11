/**
 * The engine patch's kernel code generation (patches/@jax-js+jax+0.1.25.patch):
 * - exp and reciprocal now run four lanes at a time. A kernel holding a `log` stays on the
 *   scalar path (log has no SIMD form), so `f(x) · exp(log(1))` is the scalar result (the factor
 *   is exactly 1): the two paths must agree bit for bit, and exp must stay close to Math.exp (an
 *   independent reference).
 * - matmul micro-tiles of 2 rows (and K-reductions without unrolling): every layout and row,
 *   column and reduction tail must still give the float64 product.
 * - batched products whose rows in one micro-tile share the right operand: with batches of an
 *   even row count they share it, with an odd one a micro-tile straddles two batches and must not.
 *   Both must give the float64 product.
 * - float max/min reductions on the four-lane K path: equal to JavaScript's Math.max/Math.min
 *   (the same NaN and ±0 rules as wasm's f32.max/min) bit for bit.
 */
import { jit, numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { setup } from "../helpers/engine.js";

beforeAll(setup);

/** 2¹⁶ float32 bit patterns spread over the whole range, then the edge cases. */
function patterns(): Float32Array {
  const n = 1 << 16;
  const bits = new Uint32Array(n);
  for (let i = 0; i < n; i++) bits[i] = Math.imul(i, 65_537 * 977) >>> 0;
  const edges = [0, -0, 1, -1, 88.7, 88.8, -87.3, -103, -104, Infinity, -Infinity, Number.NaN];
  const out = new Float32Array(n + edges.length);
  out.set(new Float32Array(bits.buffer));
  out.set(edges, n);
  return out;
}

const sameBits = (a: Float32Array, b: Float32Array): number => {
  const [x, y] = [new Uint32Array(a.buffer), new Uint32Array(b.buffer)];
  let differ = 0;
  for (let i = 0; i < x.length; i++)
    if (x[i] !== y[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) differ++;
  return differ;
};

describe("SIMD exp and reciprocal", () => {
  const xs = patterns();

  for (const [name, op] of [
    ["exp", np.exp],
    ["reciprocal", np.reciprocal],
  ] as const) {
    it(`${name}: four-lane kernel equals the scalar kernel bit for bit`, async () => {
      const ones = np.ones([xs.length]);
      const simd = (await jit((x: np.Array) => op(x))(np.array(xs)).data()) as Float32Array;
      const scalar = (await jit((x: np.Array, one: np.Array) => op(x).mul(np.exp(np.log(one))))(
        np.array(xs),
        ones,
      ).data()) as Float32Array;
      expect(sameBits(simd, scalar)).toBe(0);
    });
  }

  // The engine subtracts k·ln 2 with one float32 constant, so its relative error grows with |x|
  // (4.2e-6 near 88): the engine's own accuracy, the same on both paths.
  it("exp is within 5e-6 relative of Math.exp over [-87, 88]", async () => {
    const x = Float32Array.from({ length: 20_001 }, (_, i) => -87 + (175 * i) / 20_000);
    const y = (await jit((v: np.Array) => np.exp(v))(np.array(x)).data()) as Float32Array;
    let worst = 0;
    for (let i = 0; i < x.length; i++) {
      const want = Math.exp(x[i]!);
      worst = Math.max(worst, Math.abs(y[i]! - want) / want);
    }
    expect(worst).toBeLessThan(5e-6);
  });
});

describe("matmul micro-tiles", () => {
  // Shapes with row counts that are odd or not multiples of 2 or 4, short and long reductions.
  const shapes: [number, number, number][] = [
    [1, 8, 4],
    [3, 16, 8],
    [5, 12, 20],
    [7, 33, 12],
    [130, 64, 36],
    [64, 128, 352],
  ];
  const values = (n: number, seed: number) =>
    Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.3 + i * 0.618));

  for (const [m, k, n] of shapes) {
    it(`[${m},${k}]·[${k},${n}] in the three layouts equals the float64 product`, async () => {
      const a = values(m * k, 1);
      const b = values(k * n, 2);
      const want = new Float64Array(m * n);
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let r = 0; r < k; r++) s += a[i * k + r]! * b[r * n + j]!;
          want[i * n + j] = s;
        }
      const bt = new Float32Array(n * k);
      const at = new Float32Array(k * m);
      for (let r = 0; r < k; r++) {
        for (let j = 0; j < n; j++) bt[j * k + r] = b[r * n + j]!;
        for (let i = 0; i < m; i++) at[r * m + i] = a[i * k + r]!;
      }
      const A = () => np.array(a).reshape([m, k]);
      const runs = [
        jit((x: np.Array, y: np.Array) => np.matmul(x, y))(A(), np.array(b).reshape([k, n])),
        jit((x: np.Array, y: np.Array) => np.matmul(x, y.transpose()))(
          A(),
          np.array(bt).reshape([n, k]),
        ),
        jit((x: np.Array, y: np.Array) => np.matmul(x.transpose(), y))(
          np.array(at).reshape([k, m]),
          np.array(b).reshape([k, n]),
        ),
      ];
      for (const run of runs) {
        const got = (await run.data()) as Float32Array;
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
        expect(worst).toBeLessThan(1e-5 * k);
      }
    });
  }
});

/** float64 reference of [batch, m, k]·[batch, k, n]. */
function batchedProduct(a: Float32Array, b: Float32Array, [batch, m, k, n]: number[]) {
  const want = new Float64Array(batch * m * n);
  for (let p = 0; p < batch; p++)
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let r = 0; r < k; r++) s += a[(p * m + i) * k + r]! * b[(p * k + r) * n + j]!;
        want[(p * m + i) * n + j] = s;
      }
  return want;
}

describe("batched products (attention's shapes)", () => {
  const values = (n: number, seed: number) =>
    Float32Array.from({ length: n }, (_, i) => Math.cos(seed * 3.1 + i * 0.377));
  // [batch, m, k, n]: 64-row batches share the right operand within micro-tiles; 63 and 5 rows
  // put a micro-tile across two batches.
  const shapes = [
    [8, 64, 32, 64],
    [8, 64, 64, 32],
    [6, 63, 32, 64],
    [5, 5, 16, 12],
  ];
  for (const [batch, m, k, n] of shapes as [number, number, number, number][]) {
    it(`[${batch},${m},${k}]·[${batch},${k},${n}], B and Bᵀ layouts, equal the float64 product`, async () => {
      const a = values(batch * m * k, 1);
      const b = values(batch * k * n, 2);
      const want = batchedProduct(a, b, [batch, m, k, n]);
      const bt = new Float32Array(b.length);
      for (let p = 0; p < batch; p++)
        for (let r = 0; r < k; r++)
          for (let j = 0; j < n; j++) bt[(p * n + j) * k + r] = b[(p * k + r) * n + j]!;
      const A = () => np.array(a).reshape([batch, m, k]);
      const runs = [
        jit((x: np.Array, y: np.Array) => np.matmul(x, y))(A(), np.array(b).reshape([batch, k, n])),
        jit((x: np.Array, y: np.Array) => np.matmul(x, y.transpose([0, 2, 1])))(
          A(),
          np.array(bt).reshape([batch, n, k]),
        ),
      ];
      for (const run of runs) {
        const got = (await run.data()) as Float32Array;
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
        expect(worst).toBeLessThan(1e-5 * k);
      }
    });
  }
});

describe("max and min reductions", () => {
  const rows = 40;
  const width = 64;
  const xs = patterns()
    .subarray(0, rows * width)
    .slice();
  // Rows of edge cases: signed zeros, infinities, a NaN among finite values, all -Infinity.
  const special = [
    [-0, 0, -0],
    [0, -0],
    [-Infinity, -Infinity],
    [Infinity, -1, 2],
    [1, Number.NaN, -1],
  ];
  special.forEach((row, r) => {
    const at = (rows - 1 - r) * width;
    for (let i = 0; i < width; i++) xs[at + i] = row[i % row.length]!;
  });

  for (const [name, op, fold] of [
    ["max", np.max, Math.max],
    ["min", np.min, Math.min],
  ] as const) {
    it(`row ${name} over [${rows},${width}] equals Math.${name} bit for bit`, async () => {
      const got = (await jit((x: np.Array) => op(x, -1))(
        np.array(xs).reshape([rows, width]),
      ).data()) as Float32Array;
      const want = new Float32Array(rows);
      for (let r = 0; r < rows; r++) {
        let acc = xs[r * width]!;
        for (let i = 1; i < width; i++) acc = fold(acc, xs[r * width + i]!);
        want[r] = acc;
      }
      expect(sameBits(got, want)).toBe(0);
      expect(Object.is(got[rows - 1], -0)).toBe(name === "min");
    });
  }
});
