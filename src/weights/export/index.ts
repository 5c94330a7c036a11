/**
 * Export of an opened Rankwise model (nn/open-model.ts) to a GGUF file that llama.cpp loads,
 * written atomically (io/atomic.ts): a reader never sees half a file.
 */
import type { Tokenizer } from "../../data/tokenizer.js";
import { UsageError } from "../../engine/errors.js";
import { writeFileAtomic } from "../../io/atomic.js";
import type { LlamaParams } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";
import type { ExportType } from "./ggml-quants.js";
import { type GgufExport, ggufName, llamaToGguf } from "./llama-gguf.js";

export { EXPORT_TYPES, type ExportType, f32ToF16Bits, toQ4_0, toQ8_0 } from "./ggml-quants.js";
export { type GgufExport, ggufName, llamaToGguf, permuteRotary } from "./llama-gguf.js";

/**
 * A parameter outside LLaMA's (e.g. SDD's `*.sdd_scale`) changes what the model computes, and
 * llama.cpp's LLaMA graph has no place for it: refuse rather than drop it.
 */
function refuseForeignParameters(names: string[]): void {
  for (const name of names) {
    try {
      ggufName(name);
    } catch {
      throw new UsageError(
        `GGUF export: parameter ${name} has no place in llama.cpp's LLaMA graph (only the standard LLaMA weights can be exported)`,
      );
    }
  }
}

/** What {@link exportGguf} wrote. */
export interface GgufExportResult extends Omit<GgufExport, "bytes"> {
  path: string;
  bytes: number;
}

/**
 * Write the model as GGUF of `type` to `path` (borrows `params`: the caller still owns and
 * disposes them).
 */
export async function exportGguf(
  model: { params: LlamaParams; config: LlamaConfig; tokenizer: Tokenizer },
  type: ExportType,
  path: string,
  name = "rankwise",
): Promise<GgufExportResult> {
  const { params, config, tokenizer } = model;
  refuseForeignParameters(Object.keys(params));
  const read = async (hfName: string) => {
    const values = await params[hfName]!.ref.data();
    if (!(values instanceof Float32Array)) {
      throw new TypeError(`parameter ${hfName} is not float32`);
    }
    return values;
  };
  const out = await llamaToGguf(params, config, tokenizer, type, name, read);
  await writeFileAtomic(path, out.bytes);
  return { path, bytes: out.bytes.length, tensors: out.tensors, fallbackF16: out.fallbackF16 };
}
