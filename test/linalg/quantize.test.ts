import { numpy as np, random } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { stateBytes } from "../../src/engine/tree.js";
import { fromHost } from "../../src/linalg/host.js";
import { dequantize, type Quantized, quantize } from "../../src/linalg/index.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";

beforeAll(setup);

const f32 = (values: ArrayLike<number>, shape = [values.length]) =>
  fromHost(Float64Array.from(values), shape, "float32");

/** Deterministic test data with a spread of magnitudes (float32-exact). */
const data = (n: number, seed = 1) =>
  Float64Array.from({ length: n }, (_, i) =>
    Math.fround(Math.sin(i * 12.9898 + seed) * 3 * (1 + (i % 7))),
  );

/** Per-block scale computed independently: max |x| in the block / qmax. */
function scales(x: Float64Array, blockSize: number, qmax: number): number[] {
  const out: number[] = [];
  for (let b = 0; b * blockSize < x.length; b++) {
    const block = x.subarray(b * blockSize, (b + 1) * blockSize);
    out.push(Math.fround(block.reduce((m, v) => Math.max(m, Math.abs(v)), 0) / qmax));
  }
  return out;
}

/** Scales agree to float32 rounding (jax-js may divide by multiplying with the reciprocal). */
function expectScales(actual: ArrayLike<number>, expected: number[]) {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => {
    expect(Math.abs(actual[i] - e)).toBeLessThanOrEqual(2 ** -22 * e);
  });
}

function roundTrip(x: Float64Array, options: Parameters<typeof quantize>[1], shape = [x.length]) {
  const q = quantize(f32(x, shape), options);
  const back = read(dequantize({ ...q, codes: q.codes.ref, scales: q.scales.ref }));
  const s = read(q.scales);
  q.codes.dispose();
  return { back, s, q };
}

describe("quantize", () => {
  for (const bits of [8, 4] as const) {
    const qmax = bits === 8 ? 127 : 7;

    test(`int${bits} nearest: error ≤ scale/2, scales = absmax/${qmax}`, () => {
      const x = data(1000);
      const { back, s } = roundTrip(x, { bits, blockSize: 64 });
      const expected = scales(x, 64, qmax);
      expectScales(s, expected);
      x.forEach((v, i) => {
        const scale = expected[Math.floor(i / 64)];
        expect(Math.abs(back[i] - v)).toBeLessThanOrEqual(scale / 2 + 1e-6 * Math.abs(v));
      });
    });

    test(`int${bits} stochastic: error < scale, unbiased over many draws`, () => {
      const n = 128;
      const draws = 400;
      const x = data(n, 3);
      // Each row is one block: `draws` independent roundings of the same vector in one call.
      const tiled = new Float64Array(n * draws);
      for (let d = 0; d < draws; d++) tiled.set(x, d * n);
      const { back, s } = roundTrip(
        tiled,
        { bits, blockSize: n, stochastic: true, key: random.key(11) },
        [draws, n],
      );
      const scale = s[0];
      expect(Array.from(s).every((v) => v === scale)).toBe(true);
      expectScales([scale], scales(x, n, qmax));
      const mean = new Float64Array(n);
      back.forEach((v, j) => {
        expect(Math.abs(v - tiled[j])).toBeLessThan(scale * (1 + 1e-6));
        mean[j % n] += v / draws;
      });
      // Per element the rounding error has variance ≤ scale²/4, so the mean of `draws` draws is
      // within 5 standard errors of x with overwhelming probability; the overall bias tighter.
      const bound = (5 * scale) / (2 * Math.sqrt(draws));
      let bias = 0;
      mean.forEach((m, i) => {
        expect(Math.abs(m - x[i])).toBeLessThan(bound);
        bias += (m - x[i]) / n;
      });
      expect(Math.abs(bias)).toBeLessThan((5 * scale) / (2 * Math.sqrt(draws * n)));
    });
  }

  test("codes on the grid are exact, for both roundings (int4 packing round trip)", () => {
    // One block holding every int4 code −7..7 times scale 0.5 (absmax 3.5 → scale 0.5).
    const grid = Float64Array.from({ length: 16 }, (_, i) => (i < 15 ? (i - 7) * 0.5 : 0));
    for (const stochastic of [false, true]) {
      const { back } = roundTrip(grid, {
        bits: 4,
        blockSize: 16,
        stochastic,
        key: stochastic ? random.key(0) : undefined,
      });
      expect(Array.from(back)).toEqual(Array.from(grid));
    }
    const q = quantize(f32(grid), { bits: 4, blockSize: 16 });
    // codes q + 8 packed 8 per word, first code in the low bits
    const words = Array.from(read(q.codes));
    const codes = words.flatMap((w) => Array.from({ length: 8 }, (_, j) => (w >>> (4 * j)) & 15));
    expect(codes).toEqual(Array.from(grid, (v) => v / 0.5 + 8));
    dequantize(q).dispose();
  });

  test("bytes really drop: bits/8 per element + 4 per block", () => {
    const x = data(4096);
    for (const [bits, perElement] of [
      [8, 1],
      [4, 0.5],
    ] as const) {
      const q = quantize(f32(x), { bits, blockSize: 256 });
      expect(q.codes.dtype).toBe("uint32");
      expect(stateBytes(q as unknown as Record<string, unknown>)).toBe(4096 * perElement + 4 * 16);
      expect(stateBytes(q as unknown as Record<string, unknown>)).toBeLessThan(
        4096 * 4 * (bits / 16),
      );
      dequantize(q).dispose();
    }
  });

  test("shapes that do not fill the last block round trip; zero blocks stay zero", () => {
    const x = Float64Array.from({ length: 15 }, (_, i) => (i < 8 ? 0 : i - 10));
    const q = quantize(f32(x, [3, 5]), { blockSize: 8 });
    expect(q.shape).toEqual([3, 5]);
    expect(q.scales.shape).toEqual([2]);
    const back = dequantize(q);
    expect(back.shape).toEqual([3, 5]);
    const values = read(back);
    back.dispose();
    values.slice(0, 8).forEach((v) => {
      expect(v).toBe(0);
    });
    values.forEach((v, i) => {
      expect(Math.abs(v - x[i])).toBeLessThanOrEqual(4 / 127 / 2 + 1e-7);
    });
  });

  test("unsigned codes for non-negative data: error ≤ absmax/255/2", () => {
    const x = data(512).map(Math.abs);
    const { back, s } = roundTrip(x, { signed: false, blockSize: 128 });
    const expected = scales(x, 128, 255);
    expectScales(s, expected);
    x.forEach((v, i) => {
      expect(Math.abs(back[i] - v)).toBeLessThanOrEqual(expected[i >> 7] / 2 + 1e-6 * v);
    });
  });

  test("deterministic for a key; float64 output on request", () => {
    const x = data(300);
    const run = () => {
      const q = quantize(f32(x), { stochastic: true, key: random.key(5), blockSize: 32 });
      const codes = read(q.codes);
      q.codes.dispose();
      q.scales.dispose();
      return codes;
    };
    expect(run()).toEqual(run());
    const out = dequantize(quantize(f32(x)), { dtype: "float64" });
    expect(out.dtype).toBe("float64");
    out.dispose();
  });

  test("bad options", () => {
    const x = np.zeros([8]);
    expect(() => quantize(x.ref, { bits: 3 as 8 })).toThrow(RangeError);
    expect(() => quantize(x.ref, { bits: 4, blockSize: 12 })).toThrow(RangeError);
    expect(() => quantize(x.ref, { blockSize: 0 })).toThrow(RangeError);
    expect(() => quantize(x.ref, { stochastic: true })).toThrow(TypeError);
    const key = random.key(0);
    expect(() => quantize(x.ref, { key: key.ref })).toThrow(TypeError);
    key.dispose();
    expect(() => quantize(np.zeros([2], { dtype: np.int32 }))).toThrow(TypeError);
    const q: Quantized = quantize(x.ref, { blockSize: 8 });
    expect(() => dequantize({ ...q, blockSize: 16 })).toThrow(RangeError);
    q.codes.dispose();
    q.scales.dispose();
    x.dispose();
  });

  test("leaks no buffers", async () => {
    const before = await liveBuffers();
    dequantize(quantize(f32(data(100)), { bits: 4, blockSize: 16 })).dispose();
    dequantize(quantize(f32(data(64)), { stochastic: true, key: random.key(1) })).dispose();
    expect(await liveBuffers()).toBe(before);
  });
});
