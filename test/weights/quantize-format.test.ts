/**
 * The grid and the file layout, against hand-computed values: GPTQ's symmetric grid (ties to
 * even, the zero point, the all-positive and all-zero groups), the nibble order of 4-bit codes,
 * I8 codes as q − 128, and decoding Ŵ = scale·(q − zero) per group.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, expect, test } from "vitest";
import {
  dequantizeLoaded,
  dequantizeWeight,
  packCodes,
} from "../../src/weights/quantize/format.js";
import { gridCode, gridScale, roundHalfEven } from "../../src/weights/quantize/grid.js";
import { rtnHost } from "../../src/weights/quantize/rtn.js";
import { read, setup } from "../helpers/engine.js";

beforeAll(setup);

test("round half to even, as torch.round", () => {
  expect([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.6, -2.6].map(roundHalfEven)).toEqual([
    -2, -2, -0, 0, 2, 2, 3, -3,
  ]);
});

test("the symmetric grid: scale 2·max|x|/maxq, zero 2^(bits−1), clamped codes", () => {
  // max|x| = 1.5 → scale = 3/15 (4 bits), 3/255 (8 bits), rounded to float32.
  expect(gridScale(-1.5, 0.5, 4)).toBe(Math.fround(0.2));
  expect(gridScale(-0.5, 1.5, 8)).toBe(Math.fround(3 / 255));
  // All ≥ 0: the reference keeps xmin = 0, so scale = max/maxq; all zero: the range [−1, 1].
  expect(gridScale(0.25, 1.5, 4)).toBe(Math.fround(0.1));
  expect(gridScale(0, 0, 4)).toBe(Math.fround(2 / 15));
  const s = 0.25; // exact in binary: x/s ties are exact
  expect([-2, -0.375, 0.125, 0.375, 1.9, 5].map((x) => gridCode(x, s, 4))).toEqual([
    0, 6, 8, 10, 15, 15,
  ]);
});

test("4-bit codes: input 2k in the low nibble, 2k+1 in the high one; 8-bit: q − 128 as int8", () => {
  const m = {
    rows: 1,
    cols: 4,
    bits: 4 as const,
    groupSize: 4,
    codes: Uint8Array.from([1, 2, 15, 0]),
    scales: Float32Array.from([1]),
  };
  expect(packCodes(m)).toEqual({
    dtype: "U8",
    shape: [1, 2],
    bytes: Uint8Array.from([0x21, 0x0f]),
  });
  const eight = packCodes({ ...m, bits: 8, codes: Uint8Array.from([0, 127, 128, 255]) });
  expect(eight.dtype).toBe("I8");
  expect(Array.from(new Int8Array(eight.bytes.buffer))).toEqual([-128, -1, 0, 127]);
});

test("decoding: Ŵ[r, c] = scale[r, ⌊c/g⌋]·(q − zero)", () => {
  // Two rows, four inputs, groups of two; 4-bit bytes as the loader reads them (int32).
  const stored = np.array(Int32Array.from([0x21, 0x0f, 0x88, 0x7a]), {
    shape: [2, 2],
    dtype: np.int32,
  });
  const scales = np.array(Float32Array.from([1, 0.5, 2, 0.25]), {
    shape: [2, 2],
    dtype: np.float32,
  });
  const w = dequantizeWeight(stored, scales, 4);
  // Row 0: codes 1, 2 (scale 1), 15, 0 (scale 0.5); row 1: 8, 8 (scale 2), 10, 7 (scale 0.25).
  expect(Array.from(read(w))).toEqual([-7, -6, 3.5, -4, 0, 0, 0.5, -0.25]);
  w.dispose();
  const eight = np.array(Int32Array.from([-128, 127, 0, 5]), { shape: [1, 4], dtype: np.int32 });
  const one = np.array(Float32Array.from([0.5]), { shape: [1, 1], dtype: np.float32 });
  const w8 = dequantizeWeight(eight, one, 8);
  expect(Array.from(read(w8))).toEqual([-64, 63.5, 0, 2.5]);
  w8.dispose();
});

test("RTN error is at most half a step, per group", () => {
  const rows = 3;
  const cols = 8;
  const w = Float64Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 5)));
  const m = rtnHost(w, rows, cols, 4, 4);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const s = m.scales[r * 2 + Math.floor(c / 4)];
      const x = s * (m.codes[r * cols + c] - 8);
      // (1 + 1e-6): the scale is rounded to float32.
      expect(Math.abs(x - w[r * cols + c])).toBeLessThanOrEqual((s / 2) * (1 + 1e-6));
    }
  }
});

test("loading: codes without their scales, or scales of the wrong shape, are one line each", () => {
  const quantization_config = {
    quant_method: "rtn",
    bits: 8,
    group_size: -1,
    sym: true,
    checkpoint_format: "rankwise",
  };
  const json = { quantization_config };
  const codes = () => np.zeros([2, 4], { dtype: np.int32 });
  const noScale = { "a.weight": codes() };
  expect(() => dequantizeLoaded(noScale, json)).toThrow(
    "a.weight holds integer codes but a.weight_scale is missing",
  );
  const badScale = {
    "a.weight": codes(),
    "a.weight_scale": np.ones([2, 2], { dtype: np.float32 }),
  };
  expect(() => dequantizeLoaded(badScale, json)).toThrow(
    "a.weight_scale: expected F32 [2,1] (4 inputs in groups of 4), got float32 [2,2]",
  );
  for (const a of [...Object.values(noScale), ...Object.values(badScale)]) a.dispose();
  // Without quantization_config nothing changes.
  const plain = { "a.weight": codes() };
  dequantizeLoaded(plain, {});
  expect(plain["a.weight"].dtype).toBe(np.int32);
  plain["a.weight"].dispose();
});
