/**
 * Hugging Face safetensors files ↔ records of jax-js arrays (format: safetensors-header.ts).
 *
 * - encode borrows its arrays (reads them through `a.ref`) and lays tensors out as the reference
 *   writer does: "__metadata__" first, tensors sorted by descending dtype alignment, then by name.
 * - decode validates the whole header before reading data, returns the tensors in data order, and
 *   widens dtypes jax-js lacks (see safetensors-dtypes.ts). All format problems throw
 *   SafetensorsError with a one-line message; file functions prefix it with the path.
 * - `*Async` variants read arrays with `await a.data()`, which also works while wasm worker
 *   threads have work pending (where `dataSync()` throws).
 * - Node file access is imported lazily. The bytes functions live in safetensors-bytes.ts
 *   (re-exported here), which has no file access at all: pages import that one.
 */
import type { numpy as np } from "@jax-js/jax";
import {
  decodeSafetensors,
  encodeSafetensorsAsync,
  type Safetensors,
} from "./safetensors-bytes.js";
import { SafetensorsError } from "./safetensors-dtypes.js";
import { parseHeader, readHeaderLength, type SafetensorsHeader } from "./safetensors-header.js";

export {
  decodeSafetensors,
  decodeSafetensorsHeader,
  encodeSafetensors,
  encodeSafetensorsAsync,
  type Safetensors,
} from "./safetensors-bytes.js";
export { SafetensorsError } from "./safetensors-dtypes.js";
export type { SafetensorsHeader, TensorInfo } from "./safetensors-header.js";

const reason = (err: unknown) => (err instanceof Error ? err.message : String(err));

function inFile(path: string, err: unknown): unknown {
  return err instanceof SafetensorsError
    ? new SafetensorsError(`${path}: ${err.message}`, { cause: err })
    : err;
}

/** Write arrays (borrowed) and metadata to `path` atomically. */
export async function saveSafetensors(
  path: string,
  tensors: Record<string, np.Array>,
  metadata?: Record<string, string>,
): Promise<void> {
  const bytes = await encodeSafetensorsAsync(tensors, metadata);
  const { writeFileAtomic } = await import("./atomic.js");
  await writeFileAtomic(path, bytes);
}

/** Read a safetensors file into new arrays (the caller owns them) and metadata. */
export async function loadSafetensors(path: string): Promise<Safetensors> {
  const { readFile } = await import("node:fs/promises");
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new SafetensorsError(`cannot read ${path}: ${reason(err)}`, { cause: err });
  }
  try {
    return decodeSafetensors(bytes);
  } catch (err) {
    throw inFile(path, err);
  }
}

type FileHandle = Awaited<ReturnType<typeof import("node:fs/promises").open>>;

async function readFully(file: FileHandle, into: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < into.length; ) {
    const { bytesRead } = await file.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new Error("file ended early (was it changed while being read?)");
    done += bytesRead;
  }
}

/** Read and validate only the header of a safetensors file (cheap for large files). */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const { open } = await import("node:fs/promises");
  let file: FileHandle | undefined;
  try {
    file = await open(path, "r");
    const size = (await file.stat()).size;
    const prefix = new Uint8Array(Math.min(9, size)); // the length and the header's first byte
    await readFully(file, prefix, 0);
    const n = readHeaderLength(prefix, size);
    const json = new Uint8Array(n);
    await readFully(file, json, 8);
    return parseHeader(json, size);
  } catch (err) {
    if (err instanceof SafetensorsError) throw inFile(path, err);
    throw new SafetensorsError(`cannot read ${path}: ${reason(err)}`, { cause: err });
  } finally {
    await file?.close();
  }
}
