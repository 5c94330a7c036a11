/**
 * The half-precision encoders against PyTorch (test/fixtures/half_precision.json, written by
 * tools/fixtures/half_precision.py with torch's own `.to(torch.float16/bfloat16)`): every bit
 * pattern equal, over edge cases (ties, subnormals, overflow, Inf, NaN payloads) and random
 * inputs; and a round trip through the safetensors readers' widening, which must give back
 * every float16/bfloat16 value exactly.
 */
import { readFileSync } from "node:fs";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { encodeHalf, type HalfFormat } from "../../src/io/half-encode.js";
import { toElements } from "../../src/io/safetensors-dtypes.js";
import { liveBuffers, setup } from "../helpers/engine.js";

interface Fixture {
  input: number[];
  float16: number[];
  bfloat16: number[];
  float16_consistent: boolean;
  bfloat16_consistent: boolean;
}
const fixture: Fixture = JSON.parse(readFileSync("test/fixtures/half_precision.json", "utf8"));
const input = new Float32Array(new Uint32Array(fixture.input).buffer);

beforeAll(setup);

const hex = (v: number) => `0x${v.toString(16)}`;

describe.each(["float16", "bfloat16"] as HalfFormat[])("%s", (format) => {
  test("bit for bit as PyTorch converts float32", async () => {
    // The fixture says PyTorch gave the same bits element by element and as a whole tensor.
    expect(fixture[`${format}_consistent`]).toBe(true);
    const got = await encodeHalf(np.array(input.slice(), { shape: [input.length] }), format);
    const want = fixture[format];
    expect(got.length).toBe(want.length);
    const wrong: string[] = [];
    got.forEach((g, i) => {
      if (g !== want[i])
        wrong.push(`${hex(fixture.input[i]!)} → ${hex(g)}, torch ${hex(want[i]!)}`);
    });
    expect(wrong.slice(0, 10)).toEqual([]);
  });

  test("shape-agnostic, empty input, and no array left behind", async () => {
    const before = await liveBuffers();
    const flat = await encodeHalf(np.array(input.slice(0, 12), { shape: [12] }), format);
    const grid = await encodeHalf(np.array(input.slice(0, 12), { shape: [3, 4] }), format);
    expect([...grid]).toEqual([...flat]);
    expect(await encodeHalf(np.zeros([0, 3]), format)).toHaveLength(0);
    expect(await liveBuffers()).toBe(before);
  });

  test("every finite half widened by the reader encodes back to itself", async () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const { data } = toElements(format === "float16" ? "F16" : "BF16", all.slice().buffer, "x");
    const widened = data as Float32Array;
    const got = await encodeHalf(np.array(widened, { shape: [65536] }), format);
    for (let i = 0; i < 65536; i += 1) {
      if (Number.isNaN(widened[i])) {
        if (!Number.isNaN(widened[got[i]!] ?? 0))
          throw new Error(`NaN ${hex(i)} → ${hex(got[i]!)}`);
      } else if (got[i] !== i) {
        throw new Error(`${hex(i)} (${widened[i]}) encodes to ${hex(got[i]!)}`);
      }
    }
  });
});

test("a non-float32 array is refused and freed", async () => {
  const before = await liveBuffers();
  await expect(encodeHalf(np.array([1, 2], { dtype: np.int32 }), "float16")).rejects.toThrow(
    /expected a float32 array, got int32/,
  );
  expect(await liveBuffers()).toBe(before);
});
