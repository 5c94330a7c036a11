/**
 * The tensor-by-tensor safetensors writer: the same bytes as the whole-file writer
 * (encodeSafetensors) whatever order the tensors arrive in; a file with a tensor missing, a wrong
 * size, a repeated tensor or an abort leaves nothing at the path and no temporary file.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { encodeSafetensors } from "../../src/io/safetensors.js";
import { openSafetensorsStream } from "../../src/io/safetensors-stream.js";
import { setup } from "../helpers/engine.js";

let tmp: string;
beforeAll(async () => {
  await setup();
  tmp = mkdtempSync(join(tmpdir(), "rankwise-st-stream-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const bytesOf = (a: np.Array) => {
  const d = a.ref.dataSync() as Float32Array | Int32Array;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
};

test("tensors written in any order give the whole-file writer's bytes", async () => {
  const tensors = {
    "model.b": np.arange(6).astype(np.float32).reshape([2, 3]),
    "10": np.array([1, -2, 3], { dtype: np.int32 }),
    "model.a": np.array([0.5, -0.25], { dtype: np.float32 }),
  };
  try {
    const path = join(tmp, "one.safetensors");
    const entries = Object.entries(tensors).map(([name, a]) => ({
      name,
      dtype: a.dtype === np.int32 ? ("I32" as const) : ("F32" as const),
      shape: a.shape,
    }));
    const stream = await openSafetensorsStream(path, entries, { format: "pt" });
    for (const name of ["model.a", "10", "model.b"]) {
      await stream.write(name, bytesOf(tensors[name as keyof typeof tensors]));
    }
    await stream.finish();
    const want = encodeSafetensors(tensors, { format: "pt" });
    expect(stream.fileBytes).toBe(want.length);
    expect(new Uint8Array(readFileSync(path))).toEqual(want);
    expect(readdirSync(tmp)).toEqual(["one.safetensors"]);
  } finally {
    tree.dispose(tensors);
  }
});

test("a missing, repeated or wrong-sized tensor, or an abort, leaves no file behind", async () => {
  const entries = [
    { name: "x", dtype: "F32" as const, shape: [2] },
    { name: "y", dtype: "BF16" as const, shape: [3] },
  ];
  const dir = mkdtempSync(join(tmp, "bad-"));
  const path = join(dir, "bad.safetensors");
  const missing = await openSafetensorsStream(path, entries);
  await missing.write("x", new Uint8Array(8));
  await expect(missing.write("x", new Uint8Array(8))).rejects.toThrow(/"x" written twice/);
  await expect(missing.write("y", new Uint8Array(4))).rejects.toThrow(/"y" takes 6 bytes, got 4/);
  await expect(missing.write("z", new Uint8Array(4))).rejects.toThrow(/no tensor "z"/);
  await expect(missing.finish()).rejects.toThrow(/tensor "y" was never written/);
  expect(readdirSync(dir)).toEqual([]);
  const aborted = await openSafetensorsStream(path, entries);
  await aborted.write("y", new Uint8Array(6));
  await aborted.abort();
  await aborted.abort();
  expect(readdirSync(dir)).toEqual([]);
  await expect(openSafetensorsStream(path, [...entries, entries[0]!])).rejects.toThrow(/repeated/);
});
