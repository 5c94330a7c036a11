/**
 * A safetensors file written tensor by tensor, for outputs larger than memory (`rankwise merge`
 * writes each merged tensor as soon as it exists). The names, dtypes and shapes are known up
 * front, so the header (safetensors-header.ts buildHeader: the reference writer's layout and
 * order, byte for byte what saveSafetensors writes for the same tensors) is fixed at once and
 * each tensor's bytes go to their offset whenever they arrive, in any order. Only the bytes of
 * the tensor being written are ever held.
 *
 * Atomic as io/atomic.ts: the data goes to `<path>.tmp-<pid>-<random>`, is fsync'ed, then renamed
 * over `path` by `finish`, which refuses a file with a tensor missing; `abort` removes the
 * temporary file. Node only.
 */
import fs from "node:fs";
import { dirname } from "node:path";
import { temporaryPathFor } from "./atomic.js";
import type { FileDType } from "./safetensors-dtypes.js";
import { buildHeader, type TensorInfo } from "./safetensors-header.js";

/** One tensor the file will hold. */
export interface StreamEntry {
  name: string;
  dtype: FileDType;
  shape: number[];
}

/** A safetensors file being written (see the file header). */
export interface SafetensorsStream {
  path: string;
  /** Bytes the finished file will have. */
  fileBytes: number;
  /** Write tensor `name`'s bytes (little-endian, C order, exactly its size). */
  write(name: string, bytes: Uint8Array): Promise<void>;
  /** Check every tensor was written, flush, and move the file into place. */
  finish(): Promise<void>;
  /** Give up: remove the temporary file (safe to call after a failure or twice). */
  abort(): Promise<void>;
}

/** Start writing `path` with these tensors and string metadata. */
export async function openSafetensorsStream(
  path: string,
  entries: StreamEntry[],
  metadata: Record<string, string> = {},
): Promise<SafetensorsStream> {
  const { prefix, tensors, dataBytes } = buildHeader(entries, metadata);
  const infos = new Map<string, TensorInfo>(tensors.map((t) => [t.name, t]));
  if (infos.size !== entries.length) throw new TypeError(`${path}: a tensor name is repeated`);
  const pending = new Set(infos.keys());
  const tmp = temporaryPathFor(path);
  let handle: fs.promises.FileHandle | undefined = await fs.promises.open(tmp, "wx", 0o666);
  const fail = async (error: unknown): Promise<never> => {
    await abort();
    throw new Error(`cannot write ${path}: ${(error as Error).message}`, { cause: error });
  };
  const writeAt = async (bytes: Uint8Array, at: number) => {
    for (let done = 0; done < bytes.length; ) {
      const { bytesWritten } = await handle!.write(bytes, done, bytes.length - done, at + done);
      done += bytesWritten;
    }
  };
  async function abort(): Promise<void> {
    const h = handle;
    handle = undefined;
    await h?.close().catch(() => {});
    await fs.promises.rm(tmp, { force: true }).catch(() => {});
  }
  try {
    await writeAt(prefix, 0);
    // The full length now, so a tensor written last still leaves no hole before it.
    await handle.truncate(prefix.length + dataBytes);
  } catch (error) {
    await fail(error);
  }
  return {
    path,
    fileBytes: prefix.length + dataBytes,
    async write(name, bytes) {
      const info = infos.get(name);
      if (info === undefined) throw new TypeError(`${path}: no tensor "${name}" in its header`);
      if (!pending.has(name)) throw new TypeError(`${path}: tensor "${name}" written twice`);
      if (bytes.length !== info.byteSize) {
        throw new TypeError(`${path}: "${name}" takes ${info.byteSize} bytes, got ${bytes.length}`);
      }
      if (handle === undefined) throw new Error(`${path}: the file was aborted`);
      try {
        await writeAt(bytes, prefix.length + info.dataOffsets[0]);
      } catch (error) {
        await fail(error);
      }
      pending.delete(name);
    },
    async finish() {
      if (pending.size > 0) {
        await abort();
        throw new Error(`${path}: tensor "${[...pending][0]}" was never written`);
      }
      if (handle === undefined) throw new Error(`${path}: the file was aborted`);
      try {
        await handle.sync();
        await handle.close();
        handle = undefined;
        await fs.promises.rename(tmp, path);
      } catch (error) {
        await fail(error);
      }
      // The rename made durable, best effort (as io/atomic.ts).
      await fs.promises
        .open(dirname(path), "r")
        .then((dir) => dir.sync().finally(() => dir.close()))
        .catch(() => {});
    },
    abort,
  };
}
