/**
 * safetensors files on disk: atomic save, load, header-only reading, errors naming the path.
 */
import fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, expect, test } from "vitest";
import {
  loadSafetensors,
  readSafetensorsHeader,
  saveSafetensors,
} from "../../src/io/safetensors.js";
import { SafetensorsError } from "../../src/io/safetensors-dtypes.js";
import { liveBuffers, setup } from "../helpers/engine.js";
import { expected, fixture, hexOf } from "./helpers.js";

beforeAll(setup);
const dir = fs.mkdtempSync(join(tmpdir(), "rankwise-st-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test("save then load gives the same arrays and metadata, with no temporary file left", async () => {
  const before = await liveBuffers();
  const path = join(dir, "model.safetensors");
  const w = np.array(new Float32Array([1.5, -0, 3]), { shape: [3], dtype: np.float32 });
  const n = np.array(new Int32Array([7, -8]), { shape: [1, 2], dtype: np.int32 });
  await saveSafetensors(path, { w, n }, { format: "pt" });
  expect(fs.readdirSync(dir)).toEqual(["model.safetensors"]);
  const { tensors, metadata } = await loadSafetensors(path);
  expect(metadata).toEqual({ format: "pt" });
  expect([hexOf(tensors.w), hexOf(tensors.n), tensors.n.shape]).toEqual([
    hexOf(w),
    hexOf(n),
    [1, 2],
  ]);
  for (const a of [w, n, ...Object.values(tensors)]) a.dispose();
  expect(await liveBuffers()).toBe(before);
});

test("readSafetensorsHeader reads names, dtypes, shapes, sizes and metadata only", async () => {
  const path = join(dir, "reference.safetensors");
  fs.writeFileSync(path, fixture("reference.safetensors"));
  const header = await readSafetensorsHeader(path);
  expect(header.metadata).toEqual(expected.reference.metadata);
  const got = Object.fromEntries(
    header.tensors.map((t) => [t.name, [t.dtype, t.shape, t.byteSize]]),
  );
  const want = Object.fromEntries(
    Object.entries(expected.reference.tensors).map(([k, t]) => [
      k,
      [t.dtype, t.shape, t.hex.length / 2],
    ]),
  );
  expect(got).toEqual(want);
  expect(8 + header.headerBytes + header.dataBytes).toBe(fs.statSync(path).size);
});

test("missing, truncated and malformed files give errors naming the path", async () => {
  const missing = join(dir, "missing.safetensors");
  await expect(loadSafetensors(missing)).rejects.toThrow(`cannot read ${missing}: ENOENT`);
  await expect(readSafetensorsHeader(missing)).rejects.toThrow(`cannot read ${missing}: ENOENT`);
  await expect(loadSafetensors(dir)).rejects.toThrow(`cannot read ${dir}: EISDIR`);

  const short = join(dir, "short.safetensors");
  fs.writeFileSync(short, new Uint8Array(3));
  await expect(readSafetensorsHeader(short)).rejects.toThrow(`${short}: file is 3 bytes long`);

  const huge = join(dir, "huge.safetensors");
  const bytes = new Uint8Array(16);
  new DataView(bytes.buffer).setBigUint64(0, 2n ** 60n, true);
  fs.writeFileSync(huge, bytes);
  for (const read of [readSafetensorsHeader, loadSafetensors]) {
    const error = await read(huge).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SafetensorsError);
    expect((error as Error).message).toBe(
      `${huge}: header length 1152921504606846976 exceeds the 8 bytes after the length field: not a safetensors file`,
    );
  }

  const cut = join(dir, "cut.safetensors");
  const whole = fixture("reference.safetensors");
  fs.writeFileSync(cut, whole.subarray(0, whole.length - 1));
  await expect(readSafetensorsHeader(cut)).rejects.toThrow(/cut.safetensors: tensor .* run past/);
});
