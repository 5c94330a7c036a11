/**
 * Lazy safetensors reading: the header once, then one tensor's bytes at a time, read by offset,
 * so a command can stream through files larger than memory (`rankwise merge` holds one tensor of
 * each model at a time). safetensors.ts reads whole files; this reuses its header validation
 * (readSafetensorsHeader) and its dtype conversion (toElements), except that F16 and BF16 always
 * become float32, widened exactly by one jax-js kernel (half-decode.ts): no per-element loop, and
 * no float16 array, which needs Float16Array and which the wasm backend cannot compute with.
 */
import type { numpy as np } from "@jax-js/jax";
import { arrayFromElements } from "./array-bytes.js";
import { decodeHalf } from "./half-decode.js";
import { readSafetensorsHeader, type SafetensorsHeader, type TensorInfo } from "./safetensors.js";
import { SafetensorsError, toElements } from "./safetensors-dtypes.js";

/** An opened safetensors file whose tensors are read on demand. */
export interface LazySafetensors {
  path: string;
  header: SafetensorsHeader;
  /** Header entries by tensor name. */
  infos: Map<string, TensorInfo>;
  /** Read one tensor into a new array (the caller owns it; F16 and BF16 as float32). */
  read(name: string): Promise<np.Array>;
}

/** Open `path`: read and validate its header only. */
export async function openSafetensorsLazy(path: string): Promise<LazySafetensors> {
  const header = await readSafetensorsHeader(path);
  const infos = new Map(header.tensors.map((t) => [t.name, t]));
  const dataStart = 8 + header.headerBytes;
  return {
    path,
    header,
    infos,
    async read(name: string): Promise<np.Array> {
      const info = infos.get(name);
      if (info === undefined) throw new SafetensorsError(`${path}: no tensor "${name}"`);
      const { open } = await import("node:fs/promises");
      const file = await open(path, "r");
      const raw = new Uint8Array(info.byteSize); // a fresh, aligned buffer for the typed view
      try {
        for (let done = 0; done < raw.length; ) {
          const at = dataStart + info.dataOffsets[0] + done;
          const { bytesRead } = await file.read(raw, done, raw.length - done, at);
          if (bytesRead === 0) {
            throw new SafetensorsError(`${path}: file ended early while reading "${name}"`);
          }
          done += bytesRead;
        }
      } finally {
        await file.close();
      }
      if (info.dtype === "F16" || info.dtype === "BF16") {
        const format = info.dtype === "F16" ? "float16" : "bfloat16";
        return decodeHalf(new Uint16Array(raw.buffer), format, info.shape);
      }
      const { dtype, data } = toElements(info.dtype, raw.buffer, name);
      return arrayFromElements(dtype, info.shape, data);
    },
  };
}
