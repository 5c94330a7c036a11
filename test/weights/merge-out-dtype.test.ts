/**
 * `out_dtype: float16 | bfloat16` end to end, on any runtime (no Float16Array needed): the merge
 * writes F16/BF16 tensors whose bits are PyTorch's `.to(torch.float16/bfloat16)` of the same
 * merge written in float32 (the encoder is checked bit for bit against torch in
 * test/io/half-encode.test.ts), each value the nearest half to the float32 one (checked here
 * independently: within half a unit in the last place), config.json's torch_dtype says so, and
 * the folder loads back as float32; and such a folder, merged alone, comes back bit for bit (its
 * halves read exactly, io/half-decode.ts).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { encodeHalf } from "../../src/io/half-encode.js";
import { readSafetensorsHeader } from "../../src/io/safetensors.js";
import { toElements } from "../../src/io/safetensors-dtypes.js";
import { loadModel } from "../../src/nn/pretrained.js";
import { runMerge } from "../../src/weights/merge/run.js";
import { setup } from "../helpers/engine.js";

const MODELS = resolve("test/fixtures/merge/models");
let tmp: string;
beforeAll(async () => {
  await setup();
  tmp = mkdtempSync(join(tmpdir(), "rankwise-merge-dtype-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const config = (outDtype?: string) =>
  JSON.stringify({
    merge_method: "linear",
    models: [
      { model: `${MODELS}/a`, parameters: { weight: 0.7 } },
      { model: `${MODELS}/b`, parameters: { weight: 0.45 } },
    ],
    ...(outDtype ? { out_dtype: outDtype } : {}),
  });

/** Every tensor of a safetensors file as its dtype and raw bytes. */
async function rawTensors(path: string) {
  const header = await readSafetensorsHeader(path);
  const file = readFileSync(path);
  const start = 8 + header.headerBytes;
  return new Map(
    header.tensors.map((t) => [
      t.name,
      {
        dtype: t.dtype,
        bytes: file.subarray(start + t.dataOffsets[0], start + t.dataOffsets[1]),
      },
    ]),
  );
}

// A fresh buffer holding exactly these bytes (a Buffer's slice() is a view of the whole file).
const copy = (b: Uint8Array) => Uint8Array.from(b).buffer;

let reference: Awaited<ReturnType<typeof rawTensors>>;
beforeAll(async () => {
  await runMerge(config(), { out: join(tmp, "f32") });
  reference = await rawTensors(join(tmp, "f32", "model.safetensors"));
});

test.each([
  ["float16", "F16"],
  ["bfloat16", "BF16"],
] as const)(
  "out_dtype %s: %s tensors, PyTorch's rounding of the float32 merge",
  async (outDtype, fileDtype) => {
    const out = join(tmp, outDtype);
    await runMerge(config(outDtype), { out });
    const got = await rawTensors(join(out, "model.safetensors"));
    expect([...got.keys()].sort()).toEqual([...reference.keys()].sort());
    const mantissa = outDtype === "float16" ? 10 : 7;
    for (const [name, { dtype, bytes }] of got) {
      expect(dtype, name).toBe(fileDtype);
      const f32 = new Float32Array(copy(reference.get(name)!.bytes));
      const want = await encodeHalf(np.array(f32.slice(), { shape: [f32.length] }), outDtype);
      expect(new Uint16Array(copy(bytes)), name).toEqual(want);
      // Independently: the widened half is within half an ulp of the float32 value.
      const widened = toElements(fileDtype, copy(bytes), name).data as Float32Array;
      for (let i = 0; i < f32.length; i++) {
        const x = f32[i]!;
        const ulp = 2 ** (Math.floor(Math.log2(Math.max(Math.abs(x), 2 ** -14))) - mantissa);
        if (Math.abs(widened[i]! - x) > ulp / 2)
          throw new Error(`${name}[${i}]: ${x} → ${widened[i]}`);
      }
    }
    expect(JSON.parse(readFileSync(join(out, "config.json"), "utf8")).torch_dtype).toBe(outDtype);
    const loaded = await loadModel(out);
    tree.dispose(loaded.params);
  },
);

test("an unknown out_dtype is one line naming the accepted ones", async () => {
  await expect(runMerge(config("int8"), { out: join(tmp, "bad") })).rejects.toThrow(
    /^out_dtype must be one of float32, float16, bfloat16, got "int8"$/,
  );
});

test.each(["float16", "bfloat16"])(
  "a %s folder is read exactly: merged alone, it comes back bit for bit",
  async (outDtype) => {
    // The folder the test above wrote (F16/BF16 tensors) as the one model of a linear merge.
    const input = join(tmp, outDtype);
    const out = join(tmp, `${outDtype}-again`);
    await runMerge(
      JSON.stringify({
        merge_method: "linear",
        models: [{ model: input, parameters: { weight: 1 } }],
        out_dtype: outDtype,
      }),
      { out },
    );
    const before = await rawTensors(join(input, "model.safetensors"));
    const after = await rawTensors(join(out, "model.safetensors"));
    expect(after.size).toBe(before.size);
    for (const [name, t] of before) {
      expect(after.get(name)?.dtype, name).toBe(t.dtype);
      expect(Buffer.compare(after.get(name)!.bytes, t.bytes), name).toBe(0);
    }
  },
);

test("dtype alone sets the output dtype, as mergekit writes its compute dtype; out_dtype wins", async () => {
  const doc = (extra: Record<string, string>) =>
    JSON.stringify({ ...JSON.parse(config()), ...extra });
  const dtypeOf = async (extra: Record<string, string>, name: string) => {
    await runMerge(doc(extra), { out: join(tmp, name) });
    return [...(await rawTensors(join(tmp, name, "model.safetensors"))).values()][0]!.dtype;
  };
  expect(await dtypeOf({ dtype: "bfloat16" }, "dtype-only")).toBe("BF16");
  expect(await dtypeOf({ dtype: "bfloat16", out_dtype: "float32" }, "dtype-out")).toBe("F32");
});
