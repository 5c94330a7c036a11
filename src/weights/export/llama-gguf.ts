/**
 * A Rankwise LLaMA model (Hugging Face names and layouts) as a GGUF file for llama.cpp's "llama"
 * architecture, following llama.cpp's convert_hf_to_gguf.py (LlamaModel) and gguf-py's tensor
 * map (read, not copied):
 *
 *   model.embed_tokens.weight                → token_embd.weight
 *   model.layers.N.self_attn.{q,k,v,o}_proj  → blk.N.attn_{q,k,v,output}.weight
 *   model.layers.N.mlp.{gate,up,down}_proj   → blk.N.ffn_{gate,up,down}.weight
 *   model.layers.N.input_layernorm           → blk.N.attn_norm.weight
 *   model.layers.N.post_attention_layernorm  → blk.N.ffn_norm.weight
 *   model.norm.weight                        → output_norm.weight
 *   lm_head.weight                           → output.weight (absent when tied: llama.cpp then
 *                                              uses token_embd for the head)
 *
 * Rotary layout: HF LLaMA rotates the two halves of each head (rotate_half), llama.cpp's llama
 * the adjacent pairs, so the rows of q_proj (per query head) and k_proj (per key/value head) are
 * permuted: within a head of width h, new row 2i + k = old row k·h/2 + i (k ∈ {0, 1}).
 *
 * Types: 1-D tensors (norms) stay F32; matrices take the requested type. Quantised types need
 * rows (ne[0]) that are a multiple of 32; a matrix whose rows are not falls back to F16, as
 * llama.cpp's converter does, and the fallback is reported.
 */
import type { Tokenizer } from "../../data/tokenizer.js";
import type { LlamaParams } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";
import { type ExportType, GGML_TYPE, QK, toF16, toQ4_0, toQ8_0 } from "./ggml-quants.js";
import { tokenizerMetadata } from "./gguf-tokenizer.js";
import { type GgufTensor, type GgufValue, ggufBytes } from "./gguf-writer.js";

/** general.file_type of each export type (llama_ftype: ALL_F32, MOSTLY_F16, Q4_0, Q8_0). */
const FILE_TYPE: Record<ExportType, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7 };

/** HF name suffix → GGUF name suffix inside a layer. */
const LAYER_NAMES: Record<string, string> = {
  "self_attn.q_proj.weight": "attn_q.weight",
  "self_attn.k_proj.weight": "attn_k.weight",
  "self_attn.v_proj.weight": "attn_v.weight",
  "self_attn.o_proj.weight": "attn_output.weight",
  "mlp.gate_proj.weight": "ffn_gate.weight",
  "mlp.up_proj.weight": "ffn_up.weight",
  "mlp.down_proj.weight": "ffn_down.weight",
  "input_layernorm.weight": "attn_norm.weight",
  "post_attention_layernorm.weight": "ffn_norm.weight",
};

/** The GGUF name of an HF LLaMA parameter name. */
export function ggufName(hfName: string): string {
  if (hfName === "model.embed_tokens.weight") return "token_embd.weight";
  if (hfName === "model.norm.weight") return "output_norm.weight";
  if (hfName === "lm_head.weight") return "output.weight";
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hfName);
  const suffix = m ? LAYER_NAMES[m[2]!] : undefined;
  if (!m || suffix === undefined) throw new RangeError(`no GGUF name for parameter ${hfName}`);
  return `blk.${m[1]}.${suffix}`;
}

/**
 * Rows of a [heads·headDim, cols] matrix reordered from HF's half-split rotary layout to
 * llama.cpp's interleaved one (see the file header).
 */
export function permuteRotary(
  data: Float32Array,
  heads: number,
  headDim: number,
  cols: number,
): Float32Array {
  const out = new Float32Array(data.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let k = 0; k < 2; k++) {
        const from = (h * headDim + k * half + i) * cols;
        const to = (h * headDim + 2 * i + k) * cols;
        out.set(data.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}

/** The llama.* and general.* metadata of a configuration. */
export function llamaMetadata(
  config: LlamaConfig,
  type: ExportType,
  name: string,
): Record<string, GgufValue> {
  const u32 = (value: number) => ({ type: "u32", value }) as const;
  const meta: Record<string, GgufValue> = {
    "general.architecture": { type: "string", value: "llama" },
    "general.name": { type: "string", value: name },
    "general.file_type": u32(FILE_TYPE[type]),
    "llama.vocab_size": u32(config.vocab_size),
    "llama.context_length": u32(config.max_position_embeddings),
    "llama.embedding_length": u32(config.hidden_size),
    "llama.block_count": u32(config.num_hidden_layers),
    "llama.feed_forward_length": u32(config.intermediate_size),
    "llama.attention.head_count": u32(config.num_attention_heads),
    "llama.attention.head_count_kv": u32(config.num_key_value_heads),
    "llama.rope.freq_base": { type: "f32", value: config.rope_theta },
    "llama.attention.layer_norm_rms_epsilon": { type: "f32", value: config.rms_norm_eps },
    "llama.rope.dimension_count": u32(config.head_dim),
  };
  // llama.cpp assumes head_dim = hidden_size / heads unless these say otherwise.
  if (config.head_dim * config.num_attention_heads !== config.hidden_size) {
    meta["llama.attention.key_length"] = u32(config.head_dim);
    meta["llama.attention.value_length"] = u32(config.head_dim);
  }
  return meta;
}

/** One tensor's bytes in `type` (1-D always F32); `fallback` when a quantised row is too short. */
function encode(
  data: Float32Array,
  shape: number[],
  type: ExportType,
): { type: number; bytes: Uint8Array; fallback: boolean } {
  if (shape.length === 1 || type === "f32") {
    return { type: GGML_TYPE.F32, bytes: new Uint8Array(data.slice().buffer), fallback: false };
  }
  const rowLength = shape[shape.length - 1]!;
  const quantised = type === "q8_0" || type === "q4_0";
  if (type === "f16" || (quantised && rowLength % QK !== 0)) {
    return { type: GGML_TYPE.F16, bytes: toF16(data), fallback: quantised };
  }
  return type === "q8_0"
    ? { type: GGML_TYPE.Q8_0, bytes: toQ8_0(data), fallback: false }
    : { type: GGML_TYPE.Q4_0, bytes: toQ4_0(data), fallback: false };
}

/** What {@link llamaToGguf} wrote: the file's bytes and the tensors kept in F16 by necessity. */
export interface GgufExport {
  bytes: Uint8Array;
  tensors: number;
  /** GGUF names of matrices that stayed F16 because their rows are not a multiple of 32. */
  fallbackF16: string[];
}

/**
 * The GGUF bytes of a LLaMA model. `read` gives a parameter's float32 values (row-major), so
 * the caller decides how arrays leave the engine (borrowing, one at a time).
 */
export async function llamaToGguf(
  params: LlamaParams,
  config: LlamaConfig,
  tokenizer: Tokenizer,
  type: ExportType,
  name: string,
  read: (hfName: string) => Promise<Float32Array>,
): Promise<GgufExport> {
  const metadata = {
    ...llamaMetadata(config, type, name),
    ...tokenizerMetadata(tokenizer, config.vocab_size),
  };
  const tensors: GgufTensor[] = [];
  const fallbackF16: string[] = [];
  for (const [hfName, array] of Object.entries(params)) {
    const shape = array.shape;
    let data = await read(hfName);
    if (hfName.endsWith("self_attn.q_proj.weight")) {
      data = permuteRotary(data, config.num_attention_heads, config.head_dim, shape[1]!);
    } else if (hfName.endsWith("self_attn.k_proj.weight")) {
      data = permuteRotary(data, config.num_key_value_heads, config.head_dim, shape[1]!);
    }
    const gguf = ggufName(hfName);
    const encoded = encode(data, shape, type);
    if (encoded.fallback) fallbackF16.push(gguf);
    tensors.push({
      name: gguf,
      dims: [...shape].reverse(),
      type: encoded.type,
      data: encoded.bytes,
    });
  }
  return { bytes: ggufBytes(metadata, tensors), tensors: tensors.length, fallbackF16 };
}
