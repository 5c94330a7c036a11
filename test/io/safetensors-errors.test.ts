/**
 * Malformed safetensors bytes: each problem gives a SafetensorsError with a one-line message
 * naming it, before any array is built (so nothing leaks). Bad encoder inputs give TypeErrors.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, expect, test } from "vitest";
import { decodeSafetensors, encodeSafetensors } from "../../src/io/safetensors.js";
import { SafetensorsError } from "../../src/io/safetensors-dtypes.js";
import { MAX_HEADER_BYTES, readHeaderLength } from "../../src/io/safetensors-header.js";
import { liveBuffers, setup } from "../helpers/engine.js";
import { fixture, rawFile } from "./helpers.js";

beforeAll(setup);

function rejects(bytes: Uint8Array, message: RegExp): void {
  let error: unknown;
  try {
    decodeSafetensors(bytes);
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(SafetensorsError);
  expect((error as Error).message).toMatch(message);
  expect((error as Error).message).not.toContain("\n");
}

const f32Entry = (shape: number[], offsets: number[], dtype = "F32") =>
  JSON.stringify({ dtype, shape, data_offsets: offsets });
const file = (entries: Record<string, string>, data: number) =>
  rawFile(
    `{${Object.entries(entries)
      .map(([k, v]) => `${JSON.stringify(k)}:${v}`)
      .join(",")}}`,
    new Uint8Array(data),
  );

test("file shorter than the 8-byte length field", () => {
  rejects(new Uint8Array(5), /5 bytes long.*8-byte header length/);
  rejects(new Uint8Array(0), /0 bytes long/);
});

test("header length beyond the file fails before allocating (2^60)", () => {
  const bytes = rawFile("{}");
  new DataView(bytes.buffer).setBigUint64(0, 2n ** 60n, true);
  rejects(bytes, /header length 1152921504606846976 exceeds the 2 bytes after the length field/);
});

test("header length above the reference reader's limit", () => {
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(MAX_HEADER_BYTES + 8), true);
  expect(() => readHeaderLength(prefix, MAX_HEADER_BYTES + 100)).toThrow(/exceeds 100000000 bytes/);
});

test("truncated files", () => {
  const good = fixture("reference.safetensors");
  rejects(good.subarray(0, 100), /header length \d+ exceeds the 92 bytes/);
  rejects(good.subarray(0, good.length - 3), /run past the \d+-byte data section/);
});

test("header not UTF-8, not JSON, not an object", () => {
  const bad = rawFile("{}      ");
  bad[9] = 0xff;
  rejects(bad, /header is not valid UTF-8/);
  rejects(rawFile('{"a": '), /header is not valid JSON \(/);
  rejects(rawFile("[1, 2]  "), /header is not a JSON object/);
  rejects(rawFile("null    "), /header is not a JSON object/);
});

test("unknown dtype lists the accepted ones", () => {
  rejects(
    file({ w: f32Entry([1], [0, 1], "F8_E4M3") }, 1),
    /tensor "w": unknown dtype "F8_E4M3" \(accepted: BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64\)/,
  );
});

test("bad shapes and offsets", () => {
  rejects(file({ w: f32Entry([-1], [0, 4]) }, 4), /"w": shape must be an array of non-negative/);
  rejects(file({ w: f32Entry([1.5], [0, 4]) }, 4), /"w": shape must be/);
  rejects(file({ w: '{"dtype":"F32","shape":[1]}' }, 4), /"w": data_offsets must be two/);
  rejects(file({ w: f32Entry([1], [4]) }, 4), /"w": data_offsets must be two/);
  rejects(file({ w: f32Entry([0], [4, 0]) }, 4), /"w": data_offsets \[4,0\] end before/);
  rejects(file({ w: "[1]" }, 4), /"w": entry must be an object/);
});

test("shape and dtype size not matching the offsets", () => {
  rejects(
    file({ w: f32Entry([2, 3], [0, 20]) }, 20),
    /tensor "w": shape \[2,3\] of F32 needs 24 bytes but data_offsets \[0,20\] hold 20/,
  );
});

test("offsets out of range, overlapping, leaving gaps or trailing bytes", () => {
  rejects(file({ w: f32Entry([4], [0, 16]) }, 12), /"w": data_offsets \[0,16\] run past the 12/);
  rejects(
    file({ a: f32Entry([2], [0, 8]), b: f32Entry([2], [4, 12]) }, 12),
    /tensors "a" and "b" overlap/,
  );
  rejects(
    file({ a: f32Entry([2], [0, 8]), b: f32Entry([2], [12, 20]) }, 20),
    /data bytes 8 to 12 belong to no tensor/,
  );
  rejects(file({ a: f32Entry([2], [0, 8]) }, 11), /data bytes 8 to 11 belong to no tensor/);
  rejects(file({ a: f32Entry([2], [4, 12]) }, 12), /data bytes 0 to 4 belong to no tensor/);
});

test("metadata must map strings to strings", () => {
  rejects(file({ __metadata__: '{"x": 1}' }, 0), /__metadata__ value for "x" is number/);
  rejects(file({ __metadata__: '{"x": null}' }, 0), /__metadata__ value for "x" is null/);
  rejects(file({ __metadata__: "[1]" }, 0), /__metadata__ must be an object of strings/);
});

test("64-bit integers that do not fit in int32", async () => {
  const before = await liveBuffers();
  const data = new Uint8Array(16);
  const view = new DataView(data.buffer);
  view.setBigInt64(8, 2n ** 40n, true);
  const header = `{"ok":${f32Entry([1], [0, 4])},"x":${f32Entry([1], [8, 16], "I64")},"y":${f32Entry([1], [4, 8])}}`;
  rejects(rawFile(header, data), /tensor "x": I64 value 1099511627776 at element 0 does not fit/);
  view.setBigUint64(8, 2n ** 31n, true);
  const unsigned = header.replace('"I64"', '"U64"');
  rejects(rawFile(unsigned, data), /tensor "x": U64 value 2147483648 at element 0 does not fit/);
  view.setBigInt64(8, -(2n ** 31n) - 1n, true);
  rejects(rawFile(header, data), /I64 value -2147483649/);
  expect(await liveBuffers()).toBe(before);
});

test("bad encoder inputs are TypeErrors naming the problem", () => {
  const a = np.zeros([2]);
  expect(() => encodeSafetensors({ w: [1, 2] as never })).toThrow(/"w" is not a jax-js array/);
  expect(() => encodeSafetensors({ __metadata__: a })).toThrow(/"__metadata__" cannot name/);
  expect(() => encodeSafetensors({ a }, { n: 3 as never })).toThrow(
    /metadata "n" must be a string/,
  );
  expect(() => encodeSafetensors({ a })).not.toThrow();
  a.dispose();
});
