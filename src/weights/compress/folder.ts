/**
 * Write a compressed model folder. Factored layers go through nn/pretrained.ts saveModel
 * (float32 factors, ranks in config.json); when LQER / LQ-LoRA kept a quantised Q beside the
 * factors, Q is written as weights/quantize/'s integer codes plus float32 scales (with
 * config.json's `quantization_config`), so the folder really holds the quantised matrix, and
 * loadModel dequantises Q and keeps the factors.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../io/atomic.js";
import { checkLlamaParams, type LlamaParams, llamaParamShapes } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";
import { LOW_RANK_A, LOW_RANK_B, LOW_RANK_CONFIG_KEY, lowRankRanks } from "../../nn/low-rank.js";
import { CONFIG_FILE, configToJson, saveModel, WEIGHTS_FILE } from "../../nn/pretrained.js";
import { encodeRaw } from "../quantize/folder.js";
import { packCodes, quantizationConfig, type RawTensor, SCALE_SUFFIX } from "../quantize/format.js";
import type { QuantizedMatrix } from "../quantize/types.js";

/**
 * Write compressModel's result as a model folder: `params` (borrowed), with the `quantized`
 * `<m>.weight`s as codes + scales under `quantization` (default: the summary's), so
 * `saveCompressedModel(dir, config, compressModel(...))` writes what compressModel made.
 */
export async function saveCompressedModel(
  dir: string,
  config: LlamaConfig,
  {
    params,
    quantized = {},
    quantization: given,
    summary,
  }: {
    params: LlamaParams;
    quantized?: Record<string, QuantizedMatrix>;
    quantization?: { bits: 4 | 8; groupSize: number | null };
    summary?: { quantization?: { bits: 4 | 8; groupSize: number | null } };
  },
): Promise<void> {
  const quantization = given ?? summary?.quantization;
  if (Object.keys(quantized).length === 0) return saveModel(dir, { config, params });
  if (!quantization)
    throw new TypeError("saveCompressedModel: quantized weights need their settings");
  checkLlamaParams(params, config);
  const tensors: Record<string, RawTensor> = {};
  const float32 = async (name: string) => {
    const a = params[name]!;
    const data = Float32Array.from((await a.ref.data()) as Float32Array);
    tensors[name] = { dtype: "F32", shape: a.shape, bytes: new Uint8Array(data.buffer) };
  };
  for (const name of Object.keys(llamaParamShapes(config))) {
    const q = quantized[name];
    if (q) {
      tensors[name] = packCodes(q);
      tensors[`${name}${SCALE_SUFFIX}`] = {
        dtype: "F32",
        shape: [q.rows, q.cols / q.groupSize],
        bytes: new Uint8Array(q.scales.buffer, q.scales.byteOffset, q.scales.byteLength),
      };
    } else if (params[name]) await float32(name);
    const module = name.slice(0, -".weight".length);
    if (params[`${module}.${LOW_RANK_A}`]) {
      await float32(`${module}.${LOW_RANK_A}`);
      await float32(`${module}.${LOW_RANK_B}`);
    }
  }
  const json = {
    ...configToJson(config),
    [LOW_RANK_CONFIG_KEY]: lowRankRanks(params),
    quantization_config: quantizationConfig({
      method: "rtn",
      bits: quantization.bits,
      groupSize: quantization.groupSize ?? undefined,
    }),
  };
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, WEIGHTS_FILE), encodeRaw(tensors));
  await writeFileAtomic(join(dir, CONFIG_FILE), `${JSON.stringify(json, null, 2)}\n`);
}
