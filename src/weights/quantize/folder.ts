/**
 * Write a quantised model folder: model.safetensors with the codes and scales of format.ts for the
 * quantised weights and float32 for every other parameter, then config.json with its
 * `quantization_config` (weights first, both atomic, as nn/pretrained.ts saveModel). `loadModel`
 * reads it back dequantised.
 *
 * The file is assembled here from raw bytes (io/safetensors-header.ts lays out the header as the
 * reference writer does) because jax-js has no int8/uint8 arrays to hand to saveSafetensors.
 */
import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { numpy as np } from "@jax-js/jax";
import { writeFileAtomic } from "../../io/atomic.js";
import { buildHeader } from "../../io/safetensors-header.js";
import { llamaParamShapes } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";
import { CONFIG_FILE, configToJson, WEIGHTS_FILE } from "../../nn/pretrained.js";
import { packCodes, quantizationConfig, type RawTensor, SCALE_SUFFIX } from "./format.js";
import type { QuantizedMatrix, QuantizeSettings } from "./types.js";

/** What {@link saveQuantizedModel} writes. */
export interface QuantizedFolder {
  config: LlamaConfig;
  /** Every parameter by HF name (borrowed); the quantised ones are written from `quantized`. */
  params: Record<string, np.Array>;
  /** Quantised weights by parameter name (`<m>.weight`). */
  quantized: Record<string, QuantizedMatrix>;
  settings: QuantizeSettings;
}

/** Bytes of safetensors data + header for raw tensors (metadata {"format": "pt"}). */
export function encodeRaw(tensors: Record<string, RawTensor>): Uint8Array {
  const entries = Object.entries(tensors).map(([name, t]) => ({
    name,
    dtype: t.dtype,
    shape: t.shape,
  }));
  const { prefix, tensors: infos, dataBytes } = buildHeader(entries, { format: "pt" });
  const out = new Uint8Array(prefix.length + dataBytes);
  out.set(prefix);
  for (const info of infos) {
    const { bytes } = tensors[info.name];
    if (bytes.length !== info.byteSize) {
      throw new RangeError(
        `${info.name}: ${bytes.length} bytes for a ${info.byteSize}-byte tensor`,
      );
    }
    out.set(bytes, prefix.length + info.dataOffsets[0]);
  }
  return out;
}

/** Write the folder `dir` (created if needed). Borrows the parameters. */
export async function saveQuantizedModel(dir: string, folder: QuantizedFolder): Promise<void> {
  const { config, params, quantized, settings } = folder;
  const tensors: Record<string, RawTensor> = {};
  for (const [name, shape] of Object.entries(llamaParamShapes(config))) {
    const q = quantized[name];
    if (q) {
      tensors[name] = packCodes(q);
      tensors[`${name}${SCALE_SUFFIX}`] = {
        dtype: "F32",
        shape: [q.rows, q.cols / q.groupSize],
        bytes: new Uint8Array(q.scales.buffer, q.scales.byteOffset, q.scales.byteLength),
      };
      continue;
    }
    const a = params[name];
    if (!a) throw new RangeError(`saveQuantizedModel: parameter ${name} is missing`);
    const data = Float32Array.from((await a.ref.data()) as Float32Array);
    tensors[name] = { dtype: "F32", shape, bytes: new Uint8Array(data.buffer) };
  }
  const json = { ...configToJson(config), quantization_config: quantizationConfig(settings) };
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, WEIGHTS_FILE), encodeRaw(tensors));
  await writeFileAtomic(join(dir, CONFIG_FILE), `${JSON.stringify(json, null, 2)}\n`);
}

/** Whether the model folder's config.json records a `quantization_config` (codes, not floats). */
export function isQuantizedFolder(dir: string): boolean {
  try {
    const json = JSON.parse(readFileSync(join(dir, CONFIG_FILE), "utf8"));
    return typeof json === "object" && json !== null && json.quantization_config != null;
  } catch {
    return false;
  }
}
