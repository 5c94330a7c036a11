/**
 * The engine patch's kernel code generation (patches/@jax-js+jax+0.1.25.patch):
 * - exp and reciprocal now run four lanes at a time. A kernel holding a `log` stays on the
 *   scalar path (log has no SIMD form), so `f(x) · exp(log(1))` is the scalar result (the factor
 *   is exactly 1): the two paths must agree bit for bit, and exp must stay close to Math.exp (an
 *   independent reference).
 * - matmul micro-tiles of 2 rows (and K-reductions without unrolling): every layout and row,
 *   column and reduction tail must still give the float64 product.
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
