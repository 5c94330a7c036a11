/**
 * ggml's F16, Q8_0 and Q4_0 encodings against blocks worked out by hand from ggml's definitions
 * (ggml-quants.c quantize_row_q8_0_ref / q4_0_ref): scales chosen to be exact in f16, so every
 * byte of the expected block is known without running any quantiser.
 */
import { describe, expect, test } from "vitest";
import { f32ToF16Bits, toQ4_0, toQ8_0 } from "../../src/weights/export/ggml-quants.js";

const f16le = (bits: number) => [bits & 0xff, bits >> 8];

describe("f32 → f16 (round to nearest even)", () => {
  test("exact values, ties to even, overflow, subnormals, signs", () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-2)).toBe(0xc000);
    expect(f32ToF16Bits(0.5)).toBe(0x3800);
    expect(f32ToF16Bits(65504)).toBe(0x7bff); // largest finite
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // half-way to 2^16: rounds to even = inf
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie, even mantissa stays
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, odd mantissa rounds up
    expect(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // above the tie
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // tie with 0: even
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 subnormal units: even
    expect(f32ToF16Bits(2 ** -14)).toBe(0x0400); // smallest normal
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(f32ToF16Bits(Number.POSITIVE_INFINITY)).toBe(0x7c00);
    expect(f32ToF16Bits(Number.NaN) & 0x7c00).toBe(0x7c00);
    expect(f32ToF16Bits(Number.NaN) & 0x3ff).not.toBe(0);
  });
});

describe("Q8_0", () => {
  test("a block with max |x| = 127: d = 1, q = roundf(x) (ties away from zero)", () => {
    const x = new Float32Array(32);
    x.set([127, -127, 0.5, -0.5, 1.5, 2.5, -2.5, 0.49, 100.2, -3.7]);
    const q = [127, -127, 1, -1, 2, 3, -3, 0, 100, -4];
    const expected = [...f16le(0x3c00), ...q.map((v) => v & 0xff), ...new Array(22).fill(0)];
    expect(Array.from(toQ8_0(x))).toEqual(expected);
  });

  test("d = max|x| / 127 in f16; a zero block is all zeros; blocks are independent", () => {
    const x = new Float32Array(64);
    x[0] = -254; // d = 2 (0x4000): q = -127; x[1] = 3 → 1.5 → 2 (away from zero)
    x[1] = 3;
    const block = toQ8_0(x);
    expect(block.length).toBe(68);
    expect(Array.from(block.subarray(0, 4))).toEqual([...f16le(0x4000), -127 & 0xff, 2]);
    expect(Array.from(block.subarray(34))).toEqual(new Array(34).fill(0));
  });

  test("rows must be a multiple of 32", () => {
    expect(() => toQ8_0(new Float32Array(48))).toThrow(/multiple of 32/);
  });
});

describe("Q4_0", () => {
  test("largest magnitude negative (-8): d = 1, nibble = min(15, trunc(x + 8.5))", () => {
    const x = new Float32Array(32);
    // Low halves (values 0..15) and high halves (values 16..31) share bytes.
    x.set([-8, 7, 7.4, 0, -0.5, 0.49, -7.6, 3]);
    x.set([1, -1, 2.6, -3.2], 16);
    const lo = [0, 15, 15, 8, 8, 8, 0, 11, ...new Array(8).fill(8)];
    const hi = [9, 7, 11, 5, ...new Array(12).fill(8)];
    const expected = [...f16le(0x3c00), ...lo.map((l, j) => l | (hi[j]! << 4))];
    expect(Array.from(toQ4_0(x))).toEqual(expected);
  });

  test("largest magnitude positive (+8): d = -1, so +8 → 0 and -8 → min(15, 16) = 15", () => {
    const x = new Float32Array(32);
    x[0] = 8;
    x[1] = -8;
    x[2] = 4;
    const block = toQ4_0(x);
    expect(Array.from(block.subarray(0, 2))).toEqual(f16le(0xbc00));
    // value 4 with d = -1: 4 · -1 + 8.5 = 4.5 → 4; zeros → 8 (high nibbles: values 16.. are 0).
    expect(Array.from(block.subarray(2, 5))).toEqual([0 | (8 << 4), 15 | (8 << 4), 4 | (8 << 4)]);
  });

  test("a zero block: d = 0 / -8 = -0 (f16 0x8000, as C computes it), every nibble 8", () => {
    expect(Array.from(toQ4_0(new Float32Array(32)))).toEqual([
      0,
      0x80,
      ...new Array(16).fill(0x88),
    ]);
  });
});
