/**
 * The half-precision decoders, over all 65,536 bit patterns of each format, bit for bit against
 * the formats' definitions computed here on the host: float16 (−1)^s·2^(e−15)·(1 + m/2^10), its
 * subnormals (−1)^s·2^−14·m/2^10, Inf and NaN with the payload in the top mantissa bits;
 * bfloat16 the upper half of a float32. And the encoders invert them on every non-NaN value.
 */
import { describe, expect, test } from "vitest";
import { decodeHalf } from "../../src/io/half-decode.js";
import { encodeHalf, type HalfFormat } from "../../src/io/half-encode.js";
import { liveBuffers, setup } from "../helpers/engine.js";

const all = Uint16Array.from({ length: 65536 }, (_, i) => i);

/** float32 bits of float16 pattern h, from the format's definition. */
function f16Reference(h: number): number {
  const sign = h >> 15 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 31) return ((h & 0x8000) << 16) | 0x7f800000 | (m << 13);
  const value = e === 0 ? sign * 2 ** -14 * (m / 1024) : sign * 2 ** (e - 15) * (1 + m / 1024);
  return new Uint32Array(new Float32Array([value]).buffer)[0]!;
}

describe.each(["float16", "bfloat16"] as HalfFormat[])("%s", (format) => {
  test("every bit pattern decodes to its exact float32", async () => {
    await setup();
    const before = await liveBuffers();
    const a = decodeHalf(all, format, [256, 256]);
    expect(a.shape).toEqual([256, 256]);
    const bits = new Uint32Array(((await a.data()) as Float32Array).slice().buffer);
    for (let h = 0; h < 65536; h++) {
      const want = format === "float16" ? f16Reference(h) >>> 0 : (h << 16) >>> 0;
      if (bits[h] !== want) {
        throw new Error(
          `0x${h.toString(16)} → 0x${bits[h]!.toString(16)}, want 0x${want.toString(16)}`,
        );
      }
    }
    expect(await liveBuffers()).toBe(before);
  });

  test("the encoder gives every non-NaN pattern back; empty and mis-sized input", async () => {
    await setup();
    const back = await encodeHalf(decodeHalf(all, format, [65536]), format);
    const nanExp = format === "float16" ? 0x7c00 : 0x7f80;
    const nanMan = format === "float16" ? 0x3ff : 0x7f;
    for (let h = 0; h < 65536; h++) {
      const nan = (h & nanExp) === nanExp && (h & nanMan) !== 0;
      if (!nan && back[h] !== h)
        throw new Error(`0x${h.toString(16)} → 0x${back[h]!.toString(16)}`);
    }
    const empty = decodeHalf(new Uint16Array(0), format, [0, 4]);
    expect(empty.shape).toEqual([0, 4]);
    empty.dispose();
    expect(() => decodeHalf(all.subarray(0, 3), format, [2, 2])).toThrow(/does not match/);
  });
});
