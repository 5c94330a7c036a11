/**
 * A Hugging Face model folder from files a page holds (a picked or dropped folder: `File`s, or
 * any Blob), read tensor by tensor: `config.json` (LLaMA), `model.safetensors` or the shards that
 * `model.safetensors.index.json` lists, and `tokenizer.json` (+ `tokenizer_config.json`).
 *
 * Rule: the page never holds a weight file in JS memory. Each safetensors header is read with two
 * small slices, then each tensor's bytes with one slice, turned into a device array (float32; bf16
 * and f16 widened as the Node reader does) and dropped before the next, so the JS heap holds at
 * most one tensor's bytes (plus its float32 copy for narrower dtypes). Tied checkpoints that still
 * carry `lm_head.weight` skip it without reading it. Names and shapes are checked against the
 * config as nn/pretrained.ts's loadModel does (one line naming the tensor and the file).
 * Deviations from loadModel: no quantised or low-rank folders, no non-finite scan (a page would
 * have to read every weight back).
 */
import { numpy as np } from "@jax-js/jax";
import type { Tokenizer } from "../data/tokenizer.js";
import { tokenizerFromFileJson } from "../data/tokenizer-json.js";
import { arrayFromElements } from "../io/array-bytes.js";
import { SafetensorsError, toElements } from "../io/safetensors-dtypes.js";
import { parseHeader, readHeaderLength, type SafetensorsHeader } from "../io/safetensors-header.js";
import { type LlamaParams, llamaParamShapes } from "../nn/llama.js";
import { fromHfConfig, type LlamaConfig } from "../nn/llama-config.js";

/** What is read of a file: a `File` or `Blob` satisfies it. */
export interface BlobLike {
  readonly size: number;
  slice(start?: number, end?: number): { arrayBuffer(): Promise<ArrayBuffer> };
}

/** A model read from files: the caller owns `params`. */
export interface ModelFromFiles {
  config: LlamaConfig;
  params: LlamaParams;
  /** Null when the folder has no tokenizer.json. */
  tokenizer: Tokenizer | null;
  /** Bytes of the weight files, and of the largest tensor read (the most held at once). */
  fileBytes: number;
  largestTensorBytes: number;
}

const bytesOf = async (blob: BlobLike, start: number, end: number) =>
  new Uint8Array(await blob.slice(start, end).arrayBuffer());

/** The header of a safetensors blob (two small reads). `name` is for messages. */
export async function readBlobHeader(blob: BlobLike, name: string): Promise<SafetensorsHeader> {
  try {
    const n = readHeaderLength(await bytesOf(blob, 0, Math.min(9, blob.size)), blob.size);
    return parseHeader(await bytesOf(blob, 8, 8 + n), blob.size);
  } catch (err) {
    throw err instanceof SafetensorsError ? new SafetensorsError(`${name}: ${err.message}`) : err;
  }
}

/**
 * The tensors `wanted` of a safetensors blob, each read with its own slice and put on the device
 * (float32) before the next is read. Yields [name, array, bytes]; the caller owns the arrays.
 */
export async function* blobTensors(
  blob: BlobLike,
  header: SafetensorsHeader,
  wanted: (name: string) => boolean,
): AsyncGenerator<[string, np.Array, number]> {
  const base = 8 + header.headerBytes;
  for (const t of header.tensors) {
    if (!wanted(t.name)) continue;
    const raw = await blob.slice(base + t.dataOffsets[0], base + t.dataOffsets[1]).arrayBuffer();
    const { dtype, data } = toElements(t.dtype, raw, t.name);
    const a = arrayFromElements(dtype, t.shape, data);
    yield [t.name, a.dtype === np.float32 ? a : a.astype(np.float32), t.byteSize];
  }
}

async function readJson(files: Record<string, BlobLike>, name: string): Promise<unknown> {
  const blob = files[name];
  const text = new TextDecoder().decode(await bytesOf(blob, 0, blob.size));
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SyntaxError(`${name} is not valid JSON: ${(err as Error).message}`);
  }
}

/** The weight files: model.safetensors, or the shards the index lists (in first-use order). */
async function weightFiles(files: Record<string, BlobLike>): Promise<string[]> {
  const index = "model.safetensors.index.json";
  if (files[index] === undefined) {
    if (files["model.safetensors"] === undefined)
      throw new Error("the folder has no model.safetensors nor model.safetensors.index.json");
    return ["model.safetensors"];
  }
  const map = (((await readJson(files, index)) ?? {}) as { weight_map?: unknown }).weight_map;
  if (typeof map !== "object" || map === null) throw new Error(`${index}: weight_map is missing`);
  const shards = [...new Set(Object.values(map as Record<string, unknown>))];
  for (const s of shards) {
    if (typeof s !== "string" || files[s] === undefined)
      throw new Error(`${index} lists shard ${JSON.stringify(s)}, which the folder lacks`);
  }
  return shards as string[];
}

/**
 * Read a LLaMA model folder from its files by name (`config.json`, ...; a folder's own files,
 * not its subfolders'). `onTensor` is told each tensor as it arrives (for a progress line).
 */
export async function modelFromFiles(
  files: Record<string, BlobLike>,
  onTensor?: (name: string, done: number, total: number) => void,
): Promise<ModelFromFiles> {
  if (files["config.json"] === undefined) throw new Error("the folder has no config.json");
  const config = fromHfConfig(await readJson(files, "config.json"));
  // The tokenizer first: it is small, and a bad one should fail before any weight is read.
  let tokenizer: Tokenizer | null = null;
  if (files["tokenizer.json"] !== undefined) {
    const extra = files["tokenizer_config.json"]
      ? await readJson(files, "tokenizer_config.json")
      : {};
    tokenizer = tokenizerFromFileJson(await readJson(files, "tokenizer.json"), extra);
    if (tokenizer.vocabSize > config.vocab_size)
      throw new Error(
        `tokenizer.json has ${tokenizer.vocabSize} tokens, more than the config's vocab_size ${config.vocab_size}`,
      );
  }
  const shapes = llamaParamShapes(config);
  const total = Object.keys(shapes).length;
  const params: LlamaParams = {};
  let fileBytes = 0;
  let largestTensorBytes = 0;
  try {
    for (const file of await weightFiles(files)) {
      const blob = files[file];
      fileBytes += blob.size;
      const header = await readBlobHeader(blob, file);
      for (const t of header.tensors) {
        const tiedCopy = t.name === "lm_head.weight" && config.tie_word_embeddings;
        if (!(t.name in shapes) && !tiedCopy)
          throw new Error(`${file}: unexpected tensor ${t.name} (not a LLaMA parameter)`);
        const want = shapes[t.name];
        if (want && (t.shape.length !== want.length || t.shape.some((s, i) => s !== want[i])))
          throw new Error(`${file}: ${t.name} has shape [${t.shape}], the config needs [${want}]`);
      }
      for await (const [name, a, bytes] of blobTensors(blob, header, (n) => n in shapes)) {
        params[name] = a;
        largestTensorBytes = Math.max(largestTensorBytes, bytes);
        onTensor?.(name, Object.keys(params).length, total);
      }
    }
    const missing = Object.keys(shapes).find((n) => params[n] === undefined);
    if (missing !== undefined) throw new Error(`no tensor ${missing} in the weight files`);
  } catch (err) {
    for (const a of Object.values(params)) a.dispose();
    throw err;
  }
  // In the model's order, as loadModel returns them.
  const ordered: LlamaParams = {};
  for (const name of Object.keys(shapes)) ordered[name] = params[name];
  return { config, params: ordered, tokenizer, fileBytes, largestTensorBytes };
}
