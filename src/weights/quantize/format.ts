/**
 * How a quantised model folder stores its decoder linear weights, and how loading turns them back
 * into float32 (nn/pretrained.ts calls {@link dequantizeLoaded}).
 *
 * model.safetensors, per quantised module `<m>` (e.g. model.layers.0.mlp.down_proj):
 *   `<m>.weight`        8-bit: I8 [out, in], the code minus 128 (q − 128 ∈ [−128, 127]);
 *                       4-bit: U8 [out, in/2], two codes per byte: input 2k in the low nibble,
 *                       input 2k+1 in the high nibble (q ∈ [0, 15]);
 *   `<m>.weight_scale`  F32 [out, in/g], one scale per output row and group of g inputs.
 *   Ŵ[r, c] = weight_scale[r, ⌊c/g⌋]·(q[r, c] − 2^(bits−1)) (symmetric grid, grid.ts: no zero
 *   points). Every other tensor (embeddings, norms, head) stays F32 under its usual name.
 * config.json gains Hugging Face's `quantization_config` block:
 *   {"quant_method": "rtn" | "gptq", "bits": 8 | 4, "group_size": g (−1: one group per row),
 *    "sym": true, "checkpoint_format": "rankwise"}
 * The names follow HF's; the packing is Rankwise's own (not AutoGPTQ's qweight/qzeros/g_idx),
 * which `checkpoint_format` says, so a folder of another layout is refused with one line.
 *
 * Dequantisation runs as jax-js ops (shifts, masks, a broadcast multiply): no loop over the data.
 */
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import type { FileDType } from "../../io/safetensors-dtypes.js";
import { type QuantBits, zeroPoint } from "./grid.js";
import type { QuantizedMatrix, QuantizeSettings } from "./types.js";

/** Suffix of a quantised weight's scales: `<m>.weight` + `_scale`. */
export const SCALE_SUFFIX = "_scale";
/** The `checkpoint_format` of the layout above. */
export const CHECKPOINT_FORMAT = "rankwise";

/** config.json's `quantization_config`. */
export interface QuantizationConfig {
  quant_method: "rtn" | "gptq";
  bits: QuantBits;
  /** −1: one group per output row. */
  group_size: number;
  sym: true;
  checkpoint_format: typeof CHECKPOINT_FORMAT;
}

/** The block written into config.json for `settings`. */
export function quantizationConfig(settings: QuantizeSettings): QuantizationConfig {
  return {
    quant_method: settings.method,
    bits: settings.bits,
    group_size: settings.groupSize ?? -1,
    sym: true,
    checkpoint_format: CHECKPOINT_FORMAT,
  };
}

/** A tensor's bytes as the file holds them. */
export interface RawTensor {
  dtype: FileDType;
  shape: number[];
  bytes: Uint8Array;
}

/** The codes of `m` as stored (I8 q − 128, or U8 nibble pairs). Host loop: run once per save. */
export function packCodes(m: QuantizedMatrix): RawTensor {
  const { rows, cols, bits, codes } = m;
  if (bits === 8) {
    const out = new Int8Array(codes.length);
    for (let i = 0; i < codes.length; i++) out[i] = codes[i] - 128;
    return { dtype: "I8", shape: [rows, cols], bytes: new Uint8Array(out.buffer) };
  }
  const out = new Uint8Array(codes.length / 2);
  for (let k = 0; k < out.length; k++) out[k] = codes[2 * k] | (codes[2 * k + 1] << 4);
  return { dtype: "U8", shape: [rows, cols / 2], bytes: out };
}

/** Bytes `m` takes in the file (codes and scales). */
export const storedBytes = (m: QuantizedMatrix): number =>
  (m.rows * m.cols * m.bits) / 8 + 4 * m.scales.length;

/**
 * Ŵ (float32 [rows, cols]) from the stored codes as read (int32: I8 and U8 widen to int32) and
 * the scales [rows, groups]. Consumes both.
 */
export function dequantizeWeight(stored: np.Array, scales: np.Array, bits: QuantBits): np.Array {
  const rows = stored.shape[0];
  const cols = bits === 8 ? stored.shape[1] : 2 * stored.shape[1];
  const groups = scales.shape[1];
  let centred: np.Array; // q − 2^(bits−1)
  if (bits === 8) centred = stored.astype(np.float32);
  else {
    // jax-js wants integer operands on both sides of shifts and masks.
    const low = np.bitwiseAnd(stored.ref, np.full([1], 15, { dtype: np.int32 }));
    const high = np.rightShift(stored, np.full([1], 4, { dtype: np.int32 }));
    centred = np
      .stack([low, high], -1)
      .reshape([rows, cols])
      .astype(np.float32)
      .sub(zeroPoint(bits));
  }
  return centred
    .reshape([rows, groups, cols / groups])
    .mul(scales.reshape([rows, groups, 1]))
    .reshape([rows, cols]);
}

/** The validated `quantization_config` of a parsed config.json, or undefined if it has none. */
export function readQuantizationConfig(json: unknown): QuantizationConfig | undefined {
  const q = (json as { quantization_config?: unknown } | null)?.quantization_config;
  if (q === undefined || q === null) return undefined;
  const c = q as Record<string, unknown>;
  const show = JSON.stringify;
  if (c.checkpoint_format !== CHECKPOINT_FORMAT) {
    throw new UsageError(
      `config.json: quantization_config with checkpoint_format ${show(c.checkpoint_format)} (quant_method ${show(c.quant_method)}) is not supported; accepted: Rankwise's "${CHECKPOINT_FORMAT}" layout (rankwise quantize)`,
    );
  }
  if (c.quant_method !== "rtn" && c.quant_method !== "gptq") {
    throw new UsageError(
      `config.json: quantization_config.quant_method must be "rtn" or "gptq", got ${show(c.quant_method)}`,
    );
  }
  if (c.bits !== 8 && c.bits !== 4) {
    throw new UsageError(
      `config.json: quantization_config.bits must be 8 or 4, got ${show(c.bits)}`,
    );
  }
  if (c.sym !== true) {
    throw new UsageError(`config.json: quantization_config.sym must be true, got ${show(c.sym)}`);
  }
  if (
    !Number.isSafeInteger(c.group_size) ||
    (c.group_size !== -1 && (c.group_size as number) < 1)
  ) {
    throw new UsageError(
      `config.json: quantization_config.group_size must be -1 or a positive integer, got ${show(c.group_size)}`,
    );
  }
  return c as unknown as QuantizationConfig;
}

/**
 * Loading's hook: when config.json has a `quantization_config`, replace every `<m>.weight` that
 * has a `<m>.weight_scale` in `loaded` by its float32 Ŵ (codes and scales disposed). No-op
 * otherwise. Throws UsageError (one line, naming the tensor) on a layout that does not fit.
 */
export function dequantizeLoaded(loaded: Record<string, np.Array>, configJson: unknown): void {
  const q = readQuantizationConfig(configJson);
  if (!q) return;
  for (const scaleName of Object.keys(loaded)) {
    if (!scaleName.endsWith(`.weight${SCALE_SUFFIX}`)) continue;
    const name = scaleName.slice(0, -SCALE_SUFFIX.length);
    const stored = loaded[name];
    const scales = loaded[scaleName];
    const wantDtype = q.bits === 8 ? "I8" : "U8";
    if (!stored || stored.dtype !== np.int32 || stored.shape.length !== 2) {
      throw new UsageError(`${name}: a ${q.bits}-bit weight must be stored as 2-D ${wantDtype}`);
    }
    const cols = q.bits === 8 ? stored.shape[1] : 2 * stored.shape[1];
    const group = q.group_size === -1 ? cols : q.group_size;
    const want = [stored.shape[0], cols / group];
    if (
      scales.dtype !== np.float32 ||
      cols % group !== 0 ||
      scales.shape.length !== 2 ||
      scales.shape[0] !== want[0] ||
      scales.shape[1] !== want[1]
    ) {
      throw new UsageError(
        `${scaleName}: expected F32 [${want}] (${cols} inputs in groups of ${group}), got ${scales.dtype} [${scales.shape}]`,
      );
    }
    delete loaded[scaleName];
    delete loaded[name];
    loaded[name] = dequantizeWeight(stored, scales, q.bits);
  }
  // Codes without scales would otherwise load as plain numbers.
  for (const [name, a] of Object.entries(loaded)) {
    if (a.dtype === np.int32) {
      throw new UsageError(`${name} holds integer codes but ${name}${SCALE_SUFFIX} is missing`);
    }
  }
}
