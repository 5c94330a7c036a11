/**
 * The exported GGUF file read back by an independent reader (@huggingface/gguf): header,
 * metadata with its value types, tensor names, shapes (ne[0] first), types and 32-byte aligned
 * offsets; the tokens' escaped text; and the tensor bytes themselves — the f32 q/k rows in
 * llama.cpp's interleaved rotary order (index arithmetic written out here, not the exporter's
 * function), and the Q8_0 blocks decoding (by ggml's definition, decoded here) to the weights
 * within half a quantisation step. Exporting leaks no device buffer and leaves the parameters
 * usable.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GGMLQuantizationType, GGUFValueType, gguf } from "@huggingface/gguf";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ByteTokenizer } from "../../src/data/tokenizer.js";
import * as tree from "../../src/engine/tree.js";
import { initLlama, type LlamaParams, llamaParamShapes } from "../../src/nn/llama.js";
import { llamaConfig } from "../../src/nn/llama-config.js";
import { exportGguf } from "../../src/weights/export/index.js";
import { liveBuffers, setup } from "../helpers/engine.js";

const dir = mkdtempSync(join(tmpdir(), "rankwise-gguf-file-"));
const config = llamaConfig({
  vocab_size: 260, // 4 rows past the byte vocabulary
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 128,
  rope_theta: 1234,
  rms_norm_eps: 1e-5,
});
let params: LlamaParams;

beforeAll(async () => {
  await setup();
  params = initLlama(config, 5);
});
afterAll(() => tree.dispose(params));

async function read(type: "f32" | "q8_0") {
  const path = join(dir, `${type}.gguf`);
  await exportGguf({ params, config, tokenizer: new ByteTokenizer() }, type, path, "test-model");
  const parsed = await gguf(path, { allowLocalFile: true, typedMetadata: true });
  const bytes = readFileSync(path);
  const tensor = (name: string) => {
    const info = parsed.tensorInfos.find((t) => t.name === name)!;
    return { info, start: Number(parsed.tensorDataOffset + info.offset) };
  };
  return { parsed, bytes, tensor };
}

/** GGUF name → HF name, written out independently of the exporter's table. */
function expectedNames(): Record<string, string> {
  const names: Record<string, string> = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
  };
  const layer: [string, string][] = [
    ["attn_q", "self_attn.q_proj"],
    ["attn_k", "self_attn.k_proj"],
    ["attn_v", "self_attn.v_proj"],
    ["attn_output", "self_attn.o_proj"],
    ["ffn_gate", "mlp.gate_proj"],
    ["ffn_up", "mlp.up_proj"],
    ["ffn_down", "mlp.down_proj"],
    ["attn_norm", "input_layernorm"],
    ["ffn_norm", "post_attention_layernorm"],
  ];
  for (let i = 0; i < config.num_hidden_layers; i++) {
    for (const [g, h] of layer) names[`blk.${i}.${g}.weight`] = `model.layers.${i}.${h}.weight`;
  }
  return names;
}

const f16ToNumber = (bits: number) => {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
};

describe("GGUF file read back by @huggingface/gguf", () => {
  test("header, llama metadata with types, tokenizer, tensor table", async () => {
    const { parsed } = await read("f32");
    const m = parsed.typedMetadata;
    expect(m.version.value).toBe(3);
    const u32 = (key: string, value: number) =>
      expect((m as Record<string, unknown>)[key]).toEqual({ type: GGUFValueType.UINT32, value });
    const f32 = (key: string, value: number) =>
      expect((m as Record<string, unknown>)[key]).toEqual({
        type: GGUFValueType.FLOAT32,
        value: Math.fround(value),
      });
    expect(m["general.architecture"]).toEqual({ type: GGUFValueType.STRING, value: "llama" });
    u32("general.alignment", 32);
    u32("llama.context_length", 128);
    u32("llama.embedding_length", 32);
    u32("llama.block_count", 2);
    u32("llama.feed_forward_length", 64);
    u32("llama.attention.head_count", 4);
    u32("llama.attention.head_count_kv", 2);
    u32("llama.rope.dimension_count", 8);
    f32("llama.rope.freq_base", 1234);
    f32("llama.attention.layer_norm_rms_epsilon", 1e-5);
    expect(m["tokenizer.ggml.model"]).toEqual({ type: GGUFValueType.STRING, value: "rwkv" });

    const tokens = (m as Record<string, { value: string[] }>)["tokenizer.ggml.tokens"]!.value;
    expect(tokens).toHaveLength(260);
    expect(tokens[0x41]).toBe("A");
    expect(tokens[0x20]).toBe(" ");
    expect(tokens[0x5c]).toBe("\\\\");
    expect(tokens[0x0a]).toBe("\\x0a");
    expect(tokens[0xe9]).toBe("\\xe9");
    expect(tokens[257]).toBe("\\xffPAD257");
    const types = (m as Record<string, { value: number[] }>)["tokenizer.ggml.token_type"]!.value;
    expect(types.slice(254, 258)).toEqual([1, 1, 5, 5]); // NORMAL, then UNUSED padding

    const names = expectedNames();
    const shapes = llamaParamShapes(config);
    expect(parsed.tensorInfos.map((t) => t.name).sort()).toEqual(Object.keys(names).sort());
    for (const t of parsed.tensorInfos) {
      expect(t.shape.map(Number)).toEqual([...shapes[names[t.name]!]!].reverse());
      expect(t.dtype).toBe(GGMLQuantizationType.F32);
      expect(Number(t.offset) % 32).toBe(0);
    }
    expect(Number(parsed.tensorDataOffset) % 32).toBe(0);
  });

  test("f32 q/k rows are in llama.cpp's interleaved rotary order; other tensors verbatim", async () => {
    const { bytes, tensor } = await read("f32");
    const floats = (name: string, count: number) => {
      const { start } = tensor(name);
      return new Float32Array(
        bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + start + 4 * count),
      );
    };
    const hd = config.head_dim;
    const cols = config.hidden_size;
    for (const [g, h, heads] of [
      ["attn_q", "q_proj", config.num_attention_heads],
      ["attn_k", "k_proj", config.num_key_value_heads],
    ] as const) {
      const hf = params[`model.layers.1.self_attn.${h}.weight`]!.ref.dataSync() as Float32Array;
      const got = floats(`blk.1.${g}.weight`, hf.length);
      // HF row h·hd + j pairs with h·hd + j + hd/2 (rotate_half); GGUF puts them at 2j, 2j+1.
      for (let head = 0; head < heads; head++) {
        for (let j = 0; j < hd / 2; j++) {
          for (const [from, to] of [
            [head * hd + j, head * hd + 2 * j],
            [head * hd + j + hd / 2, head * hd + 2 * j + 1],
          ]) {
            expect(got.subarray(to! * cols, (to! + 1) * cols)).toEqual(
              hf.subarray(from! * cols, (from! + 1) * cols),
            );
          }
        }
      }
    }
    const v = params["model.layers.0.self_attn.v_proj.weight"]!.ref.dataSync() as Float32Array;
    expect(floats("blk.0.attn_v.weight", v.length)).toEqual(v);
  });

  test("Q8_0 blocks decode to the weights within half a step", async () => {
    const { bytes, tensor, parsed } = await read("q8_0");
    const norm = parsed.tensorInfos.find((t) => t.name === "output_norm.weight")!;
    expect(norm.dtype).toBe(GGMLQuantizationType.F32); // 1-D stays f32
    const { info, start } = tensor("blk.0.ffn_down.weight");
    expect(info.dtype).toBe(GGMLQuantizationType.Q8_0);
    const w = params["model.layers.0.mlp.down_proj.weight"]!.ref.dataSync() as Float32Array;
    const view = new DataView(bytes.buffer, bytes.byteOffset + start, (w.length / 32) * 34);
    let worst = 0;
    for (let b = 0; b < w.length / 32; b++) {
      const d = f16ToNumber(view.getUint16(b * 34, true));
      for (let j = 0; j < 32; j++) {
        const x = w[b * 32 + j]!;
        const decoded = d * view.getInt8(b * 34 + 2 + j);
        worst = Math.max(worst, Math.abs(decoded - x) / d);
      }
    }
    // Half a step from rounding, plus the f16 rounding of d (relative 2^-11, times |q| ≤ 127).
    expect(worst).toBeLessThan(0.5 + 127 * 2 ** -11);
    expect(worst).toBeGreaterThan(0.3); // it is rounding, not a copy
  });

  test("export borrows the parameters: no device buffer is left behind, none is freed", async () => {
    await read("f32"); // warm up
    const before = await liveBuffers();
    await read("q8_0");
    expect(await liveBuffers()).toBe(before);
    expect(Array.from(params["model.norm.weight"]!.ref.dataSync())).toEqual(new Array(32).fill(1));
  });
});
