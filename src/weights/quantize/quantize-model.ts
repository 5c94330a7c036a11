/**
 * Quantise a LLaMA-style model: every decoder linear weight (q/k/v/o, gate/up/down of every
 * block) becomes integer codes plus scales (RTN or GPTQ); embeddings, norms and the head stay
 * float32. GPTQ goes block by block through weights/calibration.ts, as the reference's
 * llama.py `llama_sequential` does (true_sequential off): a block's seven layers are measured on
 * the outputs of the blocks before it, already quantised.
 *
 * Checks (RangeError, one line): bits 8 or 4; a group size that divides every layer's input
 * size; for 4 bits, even input sizes (two codes per byte); GPTQ needs calibration sequences.
 */
import { numpy as np } from "@jax-js/jax";
import type { LlamaParams } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";
import { BLOCK_LINEARS, calibrateBlocks } from "../calibration.js";
import { dequantizeWeight, packCodes, storedBytes } from "./format.js";
import { gptqHost } from "./gptq.js";
import { rtnHost } from "./rtn.js";
import type { QuantizedMatrix, QuantizeSettings } from "./types.js";

/** Options of {@link quantizeModel}. */
export interface QuantizeModelOptions extends QuantizeSettings {
  /** Calibration ids, samples × seqLen row-major (GPTQ only). */
  calibration?: { tokens: Int32Array; samples: number; seqLen: number };
  /** Sequences per forward pass (memory only). */
  batch?: number;
  /** Called after each decoder block is quantised (progress). */
  onBlock?: (layer: number) => void;
}

/** What was done, with the bytes the parameters take on disk before (float32) and after. */
export interface QuantizeSummary {
  method: "rtn" | "gptq";
  bits: 8 | 4;
  /** null: one scale per output row. */
  groupSize: number | null;
  /** Decoder linear weights quantised. */
  layers: number;
  bytesBefore: number;
  bytesAfter: number;
}

/** The result: dequantised parameters, the quantised weights by name, the summary. */
export interface QuantizedModel {
  /** Every parameter, float32; decoder linear weights are Ŵ (what loading the folder gives). */
  params: LlamaParams;
  /** Codes and scales by parameter name (`<m>.weight`), for saveQuantizedModel. */
  quantized: Record<string, QuantizedMatrix>;
  summary: QuantizeSummary;
}

const METHODS = ["rtn", "gptq"];

/** Validate the settings against the model. Throws RangeError. */
export function checkQuantizeSettings(config: LlamaConfig, settings: QuantizeSettings): void {
  const { method, bits, groupSize } = settings;
  if (!METHODS.includes(method)) {
    throw new RangeError(
      `method must be one of ${METHODS.join(", ")}; got ${JSON.stringify(method)}`,
    );
  }
  if (bits !== 8 && bits !== 4)
    throw new RangeError(`bits must be 8 or 4, got ${JSON.stringify(bits)}`);
  const sizes = [
    ["hidden_size", config.hidden_size],
    ["intermediate_size", config.intermediate_size],
    ["heads × head_dim", config.num_attention_heads * config.head_dim],
  ] as const;
  if (groupSize !== undefined) {
    if (!Number.isSafeInteger(groupSize) || groupSize < 1) {
      throw new RangeError(`group size must be a positive integer, got ${groupSize}`);
    }
    for (const [what, size] of sizes) {
      if (size % groupSize !== 0) {
        throw new RangeError(
          `group size ${groupSize} must divide every layer's input size; ${what} is ${size}`,
        );
      }
    }
  }
  if (bits === 4) {
    for (const [what, size] of sizes) {
      if (size % 2 !== 0) {
        throw new RangeError(
          `4-bit codes go two per byte: input sizes must be even; ${what} is ${size}`,
        );
      }
    }
  }
}

/** Ŵ of a quantised matrix, through the same packing and decoding as a saved folder. */
export function dequantizeMatrix(m: QuantizedMatrix): np.Array {
  const { dtype, shape, bytes } = packCodes(m);
  const widened =
    dtype === "I8" ? Int32Array.from(new Int8Array(bytes.buffer)) : Int32Array.from(bytes);
  const codes = np.array(widened, { shape, dtype: np.int32 });
  const scales = np.array(m.scales, { shape: [m.rows, m.cols / m.groupSize], dtype: np.float32 });
  return dequantizeWeight(codes, scales, m.bits);
}

const linearNames = (i: number) => BLOCK_LINEARS.map((m) => `model.layers.${i}.${m}.weight`);

/**
 * The quantised model. Consumes `params` (a new record is returned; untouched entries move into
 * it).
 */
export function quantizeModel(
  params: LlamaParams,
  config: LlamaConfig,
  options: QuantizeModelOptions,
): QuantizedModel {
  const out: LlamaParams = { ...params };
  const quantized: Record<string, QuantizedMatrix> = {};
  const { method, bits, groupSize } = options;
  try {
    checkQuantizeSettings(config, options);
    if (method === "rtn") {
      for (let i = 0; i < config.num_hidden_layers; i++) {
        for (const name of linearNames(i)) {
          const [rows, cols] = out[name].shape;
          const w = out[name].dataSync() as Float32Array; // consumes the float weight
          quantized[name] = rtnHost(w, rows, cols, bits, groupSize ?? cols);
          out[name] = dequantizeMatrix(quantized[name]);
        }
        options.onBlock?.(i);
      }
    } else {
      const calib = options.calibration;
      if (!calib) throw new RangeError("gptq needs calibration sequences");
      calibrateBlocks(
        out,
        config,
        calib.tokens,
        calib,
        (i, stats) => {
          const updated: Record<string, np.Array> = {};
          for (const name of linearNames(i)) {
            const measured = stats.get(name.slice(0, -".weight".length));
            if (!measured?.gram) throw new Error(`gptq: no calibration Gram matrix for ${name}`);
            const [rows, cols] = out[name].shape;
            const w = Float64Array.from(out[name].ref.dataSync() as Float32Array);
            const m = gptqHost(
              w,
              rows,
              cols,
              measured.gram,
              measured.samples,
              bits,
              groupSize ?? cols,
            );
            quantized[name] = m;
            updated[name] = dequantizeMatrix(m);
          }
          return updated;
        },
        { gram: true, batch: options.batch, onBlock: options.onBlock },
      );
    }
  } catch (error) {
    for (const a of Object.values(out)) a.dispose();
    throw error;
  }
  let bytesBefore = 0;
  let bytesAfter = 0;
  for (const [name, a] of Object.entries(out)) {
    const floatBytes = 4 * a.shape.reduce((n, d) => n * d, 1);
    bytesBefore += floatBytes;
    bytesAfter += quantized[name] ? storedBytes(quantized[name]) : floatBytes;
  }
  const summary: QuantizeSummary = {
    method,
    bits,
    groupSize: groupSize ?? null,
    layers: Object.keys(quantized).length,
    bytesBefore,
    bytesAfter,
  };
  return { params: out, quantized, summary };
}
