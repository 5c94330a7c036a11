/**
 * safetensors encode/decode against the format description and against files written by the
 * independent numpy writer in tools/fixtures/safetensors_reference.py.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { hasFloat16Array } from "../../src/io/array-bytes.js";
import {
  decodeSafetensors,
  decodeSafetensorsHeader,
  encodeSafetensors,
  encodeSafetensorsAsync,
} from "../../src/io/safetensors.js";
import { liveBuffers, setup } from "../helpers/engine.js";
import { expected, fixture, hexOf, rawFile } from "./helpers.js";

beforeAll(setup);

const JAX_DTYPE: Record<string, string> = {
  F32: "float32",
  F64: "float64",
  I32: "int32",
  U32: "uint32",
  BOOL: "bool",
  F16: "float16",
};

const f32 = (values: number[], shape: number[]) =>
  np.array(new Float32Array(values), { shape, dtype: np.float32 });

const bytesOf = (values: number[]) => new Uint8Array(new Float32Array(values).buffer);

describe("layout (format description and the reference writer's own unit cases)", () => {
  test("one F32 tensor: 64-byte header, no padding, then the data", () => {
    const a = f32([0, 1, 2, 3, 4, 5], [1, 2, 3]);
    const out = encodeSafetensors({ "attn.0": a });
    const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(header.length).toBe(64);
    expect(Buffer.from(out).equals(rawFile(header, bytesOf([0, 1, 2, 3, 4, 5])))).toBe(true);
    a.dispose();
  });

  test("header padded with spaces so the data starts 8-byte aligned", () => {
    const a = f32([0, 1, 2, 3, 4, 5], [1, 1, 2, 3]);
    const out = encodeSafetensors({ attn0: a });
    const header = `{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}${" ".repeat(7)}`;
    expect(header.length).toBe(72);
    expect(Buffer.from(out).equals(rawFile(header, bytesOf([0, 1, 2, 3, 4, 5])))).toBe(true);
    a.dispose();
  });

  test("no tensors; metadata goes first and is left out when empty", () => {
    expect(Buffer.from(encodeSafetensors({})).equals(rawFile(`{}${" ".repeat(6)}`))).toBe(true);
    const out = encodeSafetensors({}, { framework: "pt" });
    const header = `{"__metadata__":{"framework":"pt"}}${" ".repeat(5)}`;
    expect(header.length).toBe(40);
    expect(Buffer.from(out).equals(rawFile(header))).toBe(true);
  });

  test("tensors ordered by descending alignment, then by name in UTF-8 byte order", () => {
    const t = {
      b: f32([1, 2], [2]),
      "10": f32([1, 2], [2]),
      "9": f32([1, 2], [2]),
      m: np.array(new Int32Array([1, 0]), { shape: [2], dtype: np.bool }),
      "\u{1F600}": f32([1, 2], [2]),
      "\uFFFD": f32([1, 2], [2]),
    };
    const header = decodeSafetensorsHeader(encodeSafetensors(t));
    expect(header.tensors.map((x) => x.name)).toEqual(["10", "9", "b", "\uFFFD", "\u{1F600}", "m"]);
    for (const a of Object.values(t)) a.dispose();
  });
});

describe("the numpy-written reference file", () => {
  test("decodes to the reference bytes, dtypes, shapes and metadata", async () => {
    const before = await liveBuffers();
    const { tensors, metadata } = decodeSafetensors(fixture("reference.safetensors"));
    expect(metadata).toEqual(expected.reference.metadata);
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(expected.reference.tensors).sort());
    for (const [name, want] of Object.entries(expected.reference.tensors)) {
      const a = tensors[name];
      expect({ name, dtype: a.dtype, shape: a.shape, hex: hexOf(a) }).toEqual({
        name,
        dtype: JAX_DTYPE[want.dtype],
        shape: want.shape,
        hex: want.hex,
      });
    }
    for (const a of Object.values(tensors)) a.dispose();
    expect(await liveBuffers()).toBe(before);
  });

  test("the same tensors encode to exactly the reference writer's bytes (sync and async)", async () => {
    const file = fixture("reference.safetensors");
    const { tensors, metadata } = decodeSafetensors(file);
    expect(Buffer.from(encodeSafetensors(tensors, metadata)).equals(file)).toBe(true);
    expect(Buffer.from(await encodeSafetensorsAsync(tensors, metadata)).equals(file)).toBe(true);
    for (const a of Object.values(tensors)) a.dispose();
  });

  test("widened dtypes decode to the reference float32/int32 values", async () => {
    const before = await liveBuffers();
    const { tensors, metadata } = decodeSafetensors(fixture("reference-widened.safetensors"));
    expect(metadata).toEqual(expected.widened.metadata);
    for (const [name, want] of Object.entries(expected.widened.tensors)) {
      const a = tensors[name];
      const native = want.dtype === "F16" && hasFloat16Array;
      const value = native ? { dtype: "float16", hex: want.hex } : want.decoded!;
      expect({ name, dtype: a.dtype, shape: a.shape, hex: hexOf(a) }).toEqual({
        name,
        dtype: value.dtype,
        shape: want.shape,
        hex: value.hex,
      });
    }
    for (const a of Object.values(tensors)) a.dispose();
    expect(await liveBuffers()).toBe(before);
  });

  test("the header alone gives names, dtypes, shapes, sizes and metadata", () => {
    const header = decodeSafetensorsHeader(fixture("reference.safetensors"));
    expect(header.metadata).toEqual(expected.reference.metadata);
    for (const t of header.tensors) {
      const want = expected.reference.tensors[t.name];
      expect([t.dtype, t.shape, t.byteSize]).toEqual([want.dtype, want.shape, want.hex.length / 2]);
    }
    expect(header.dataBytes).toBe(header.tensors.reduce((n, t) => n + t.byteSize, 0));
  });
});

describe("round trips", () => {
  test("random bit patterns of every dtype come back bit-exact, arrays borrowed", async () => {
    const before = await liveBuffers();
    const bits = new Uint32Array(4 * 37);
    for (let i = 0; i < bits.length; i++) bits[i] = (Math.random() * 2 ** 32) >>> 0;
    // Special float32 patterns: NaN payloads (quiet and signalling), -0, subnormals, infinities.
    bits.set([0x7fc00001, 0xff812345, 0x80000000, 0x00000001, 0x807fffff, 0x7f800000], 0);
    const f64 = f32([1, -2, 3.5, 1e-30], [4]).astype(np.float64).div(3);
    const arrays: Record<string, np.Array> = {
      f32: np.array(new Float32Array(bits.buffer), { shape: [4, 37], dtype: np.float32 }),
      i32: np.array(new Int32Array(bits.buffer), { shape: [37, 4], dtype: np.int32 }),
      u32: np.array(bits.slice(0, 10), { shape: [2, 5], dtype: np.uint32 }),
      bool: np.array(new Int32Array([1, 0, 0, 1, 1]), { shape: [5], dtype: np.bool }),
      f64,
      scalar: np.array(new Float32Array([-0]), { shape: [], dtype: np.float32 }),
      empty: np.zeros([3, 0], { dtype: np.int32 }),
    };
    const want = Object.fromEntries(Object.entries(arrays).map(([k, a]) => [k, hexOf(a)]));
    const { tensors } = decodeSafetensors(encodeSafetensors(arrays, { k: "v" }));
    for (const [name, a] of Object.entries(arrays)) {
      const b = tensors[name];
      expect([name, b.dtype, b.shape, hexOf(b)]).toEqual([name, a.dtype, a.shape, want[name]]);
    }
    // encode borrowed its inputs: they are still readable.
    expect(hexOf(arrays.f32)).toBe(want.f32);
    for (const a of [...Object.values(arrays), ...Object.values(tensors)]) a.dispose();
    expect(await liveBuffers()).toBe(before);
  });

  test.runIf(hasFloat16Array)("float16 arrays round-trip bit-exactly (needs Float16Array)", () => {
    const { tensors } = decodeSafetensors(fixture("reference-widened.safetensors"));
    const again = decodeSafetensors(encodeSafetensors({ f16: tensors.f16 }));
    expect(again.tensors.f16.dtype).toBe("float16");
    expect(hexOf(again.tensors.f16)).toBe(expected.widened.tensors.f16.hex);
    for (const a of [...Object.values(tensors), again.tensors.f16]) a.dispose();
  });

  test.skipIf(hasFloat16Array)(
    "float16 arrays are refused where the runtime cannot read them",
    () => {
      const a = np.zeros([2], { dtype: np.float16 });
      expect(() => encodeSafetensors({ a })).toThrow(/"a" is float16.*Float16Array/);
      a.dispose();
    },
  );
});
