/**
 * Hugging Face safetensors bytes ↔ records of jax-js arrays (format: safetensors-header.ts),
 * without file access, so that pages can use them (src/browser.ts); safetensors.ts adds files.
 *
 * - encode borrows its arrays (reads them through `a.ref`) and lays tensors out as the reference
 *   writer does: "__metadata__" first, tensors sorted by descending dtype alignment, then by name.
 * - decode validates the whole header before reading data, returns the tensors in data order, and
 *   widens dtypes jax-js lacks (see safetensors-dtypes.ts). All format problems throw
 *   SafetensorsError with a one-line message.
 * - `*Async` variants read arrays with `await a.data()`, which also works while wasm worker
 *   threads have work pending (where `dataSync()` throws), and on WebGPU in pages.
 */
import type { numpy as np } from "@jax-js/jax";
import { isArray } from "../engine/tree.js";
import {
  arrayFromElements,
  hasFloat16Array,
  isStorable,
  type StorableDType,
  writeArray,
  writeArraySync,
} from "./array-bytes.js";
import { FILE_DTYPE_OF, toElements } from "./safetensors-dtypes.js";
import {
  buildHeader,
  parseHeader,
  readHeaderLength,
  type SafetensorsHeader,
  type TensorInfo,
} from "./safetensors-header.js";

/**
 * A safetensors file's content: its tensors by name (the caller owns them) and its string metadata.
 */
export interface Safetensors {
  tensors: Record<string, np.Array>;
  metadata: Record<string, string>;
}

interface Plan {
  out: Uint8Array;
  slots: { array: np.Array; at: number; info: TensorInfo }[];
}

function plan(tensors: Record<string, np.Array>, metadata: Record<string, string> = {}): Plan {
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== "string") {
      throw new TypeError(`safetensors metadata "${key}" must be a string, got ${typeof value}`);
    }
  }
  const entries = Object.entries(tensors).map(([name, array]) => {
    if (name === "__metadata__") throw new TypeError('"__metadata__" cannot name a tensor');
    if (!isArray(array)) throw new TypeError(`tensor "${name}" is not a jax-js array`);
    const dtype = array.dtype;
    if (!isStorable(dtype)) {
      throw new TypeError(
        `tensor "${name}" has dtype ${dtype}; storable: float32, float64, float16, int32, uint32, bool`,
      );
    }
    if (dtype === "float16" && !hasFloat16Array) {
      throw new TypeError(
        `tensor "${name}" is float16, which this JavaScript runtime cannot read (no Float16Array)`,
      );
    }
    return { name, array, dtype: FILE_DTYPE_OF[dtype as StorableDType], shape: array.shape };
  });
  const { prefix, tensors: infos, dataBytes } = buildHeader(entries, metadata);
  const byName = new Map(entries.map((e) => [e.name, e.array]));
  const out = new Uint8Array(prefix.length + dataBytes);
  out.set(prefix);
  const slots = infos.map((info) => ({
    array: byName.get(info.name)!,
    at: prefix.length + info.dataOffsets[0],
    info,
  }));
  return { out, slots };
}

/** Serialise arrays (borrowed) and string metadata to safetensors bytes. */
export function encodeSafetensors(
  tensors: Record<string, np.Array>,
  metadata?: Record<string, string>,
): Uint8Array {
  const { out, slots } = plan(tensors, metadata);
  for (const { array, at, info } of slots) {
    writeArraySync(array, out.subarray(at, at + info.byteSize));
  }
  return out;
}

/** {@link encodeSafetensors}, reading arrays asynchronously. */
export async function encodeSafetensorsAsync(
  tensors: Record<string, np.Array>,
  metadata?: Record<string, string>,
): Promise<Uint8Array> {
  const { out, slots } = plan(tensors, metadata);
  for (const { array, at, info } of slots) {
    await writeArray(array, out.subarray(at, at + info.byteSize));
  }
  return out;
}

/** Parse and validate the header of complete safetensors bytes (no tensor data is read). */
export function decodeSafetensorsHeader(bytes: Uint8Array): SafetensorsHeader {
  const n = readHeaderLength(bytes, bytes.length);
  return parseHeader(bytes.subarray(8, 8 + n), bytes.length);
}

/** Parse safetensors bytes into new arrays (the caller owns them) and metadata. */
export function decodeSafetensors(bytes: Uint8Array): Safetensors {
  const header = decodeSafetensorsHeader(bytes);
  const base = 8 + header.headerBytes;
  // Convert everything first (this can still fail), then build arrays: nothing to clean up.
  const converted = header.tensors.map((t) => {
    const raw = new Uint8Array(t.byteSize);
    raw.set(bytes.subarray(base + t.dataOffsets[0], base + t.dataOffsets[1]));
    return { name: t.name, shape: t.shape, ...toElements(t.dtype, raw.buffer, t.name) };
  });
  const built: [string, np.Array][] = [];
  try {
    for (const c of converted) built.push([c.name, arrayFromElements(c.dtype, c.shape, c.data)]);
  } catch (err) {
    for (const [, a] of built) a.dispose();
    throw err;
  }
  return { tensors: Object.fromEntries(built), metadata: header.metadata };
}
