/**
 * What `eval` reports about a model's size and sparsity:
 * - `parameters`: elements of the weight tensors as stored (Σ of the shapes in the safetensors
 *   headers), so low-rank factors count as their factors and a quantised tensor as its stored
 *   integers plus scales (a packed int4 tensor counts its packed elements);
 * - `parameterBytes`: bytes of those tensors' data as stored (Σ of each header entry's byte
 *   range; the JSON headers themselves are left out);
 * - `sparsity`: the share of exact zeros among the decoder linear weights as loaded
 *   (`model.layers.<i>.*_proj.*` leaves: dense weights, or factors where the model runs factored).
 * The sizes come from the headers alone, so they need no knowledge of the compress or quantize
 * formats. Files: a model folder's model.safetensors (or its index's shards); a run's
 * checkpoint/; a fine-tuning run's base (as its trainer.json records it) plus its adapter/;
 * `--adapter <dir>` adds that adapter's weights. A Hub id reads the downloaded folder.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { readSafetensorsHeader } from "../io/safetensors.js";
import type { LlamaParams } from "../nn/llama.js";
import { ADAPTER_WEIGHTS_FILE } from "../peft/files.js";
import { CHECKPOINT_DIR, readTrainerMeta } from "../train/checkpoint.js";

const WEIGHTS_FILE = "model.safetensors";
const INDEX_FILE = "model.safetensors.index.json";

const isDir = (path: string) => existsSync(path) && statSync(path).isDirectory();

/** A model folder's weight files: the index's shards, else model.safetensors. */
function folderFiles(dir: string): string[] {
  const index = join(dir, INDEX_FILE);
  if (!existsSync(index)) return [join(dir, WEIGHTS_FILE)];
  const map = (JSON.parse(readFileSync(index, "utf8")) as { weight_map?: Record<string, string> })
    .weight_map;
  return [...new Set(Object.values(map ?? {}))].map((shard) => join(dir, shard));
}

/**
 * The safetensors files that store the model `path` names (a model folder or a run folder, as
 * openModel resolved it) and the adapter folder, if any.
 */
export function storedWeightFiles(path: string, adapter?: string): string[] {
  const files: string[] = [];
  if (isDir(join(path, CHECKPOINT_DIR)) && !existsSync(join(path, "config.json"))) {
    const meta = readTrainerMeta(path);
    const base = (meta?.config as { finetune?: { base?: { path?: unknown } } } | undefined)
      ?.finetune?.base?.path;
    if (typeof base === "string") {
      if (isDir(base)) files.push(...storedWeightFiles(base));
      files.push(join(path, "adapter", ADAPTER_WEIGHTS_FILE));
    } else files.push(...folderFiles(join(path, CHECKPOINT_DIR)));
  } else files.push(...folderFiles(path));
  if (adapter !== undefined) files.push(join(adapter, ADAPTER_WEIGHTS_FILE));
  return files;
}

/** Elements and data bytes of every tensor in `files`, from their headers. */
export async function storedSize(
  files: string[],
): Promise<{ parameters: number; parameterBytes: number }> {
  let parameters = 0;
  let parameterBytes = 0;
  for (const file of files) {
    for (const t of (await readSafetensorsHeader(file)).tensors) {
      parameters += t.shape.reduce((a, b) => a * b, 1);
      parameterBytes += t.byteSize;
    }
  }
  return { parameters, parameterBytes };
}

const DECODER_LINEAR = /^model\.layers\.\d+\..*_proj\./;

/** Share of exact zeros among the decoder linear leaves of `params` (borrowed). */
export function decoderSparsity(params: LlamaParams): number {
  let zeros = 0;
  let total = 0;
  for (const [name, w] of Object.entries(params)) {
    if (!DECODER_LINEAR.test(name)) continue;
    zeros += (np.equal(w.ref, 0).astype(np.int32).sum().dataSync() as Int32Array)[0];
    total += w.size;
  }
  return total > 0 ? zeros / total : 0;
}
