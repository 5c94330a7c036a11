/**
 * The models a merge reads, one tensor at a time. A model folder (config.json + model.safetensors
 * or shards + index), and a Hub id once downloaded into the HF cache (io/hub.ts), is read lazily:
 * headers first, then each tensor by offset when the merge reaches it (io/safetensors-lazy.ts),
 * so no model is ever held whole. Run folders and `model+adapter` references go through
 * openModel / applyAdapter (src/nn/open-model.ts) and are held in memory (deviation: those are
 * not streamed). A model folder needs no tokenizer to be merged.
 *
 * Every tensor is handed out as float32 (bf16/f16 widened).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { readTokenizerFile, TOKENIZER_FILE, tokenizerFiles } from "../../data/tokenizer-file.js";
import { UsageError } from "../../engine/errors.js";
import * as tree from "../../engine/tree.js";
import { downloadModel, HUB_ID, parseHubId, stderrProgress } from "../../io/hub.js";
import { type LazySafetensors, openSafetensorsLazy } from "../../io/safetensors-lazy.js";
import { llamaParamShapes, RESIDUAL_PROJECTION } from "../../nn/llama.js";
import { fromHfConfig, type LlamaConfig, toHfConfig } from "../../nn/llama-config.js";
import { applyAdapter, openModel } from "../../nn/open-model.js";
import {
  CONFIG_FILE,
  isFactoredFolder,
  WEIGHTS_FILE,
  WEIGHTS_INDEX_FILE,
} from "../../nn/pretrained.js";
import { isQuantizedFolder } from "../quantize/folder.js";

/** One model of a merge. */
export interface ModelSource {
  /** The reference as written in the config. */
  ref: string;
  config: LlamaConfig;
  /** config.json as read (unknown fields kept), written out when this model gives the config. */
  configJson: Record<string, unknown>;
  /** Parameter shapes by HF name. */
  shapes: Record<string, number[]>;
  /**
   * The residual projections it holds beside them (`model.layers.<i>.inlp_projection`, written
   * by `edit inlp` without --fold), by name; `read` reads them too.
   */
  projections: Record<string, number[]>;
  /** One tensor as a new float32 array (the caller owns it). */
  read(name: string): Promise<np.Array>;
  /** The tokenizer files this model's folder would hold (tokenizer.json, ...), if any. */
  tokenizerFiles(): Record<string, string> | undefined;
  close(): void;
}

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();

const asFloat32 = (a: np.Array) => (a.dtype === np.float32 ? a : a.astype(np.float32));

/** Split "model+adapter" (mergekit's LoRA syntax); a path that exists as written wins. */
export function splitAdapterRef(ref: string): { model: string; adapter?: string } {
  const plus = ref.lastIndexOf("+");
  if (plus <= 0 || existsSync(ref)) return { model: ref };
  return { model: ref.slice(0, plus), adapter: ref.slice(plus + 1) };
}

/** Open one model reference (see the file header). */
export async function openSource(ref: string): Promise<ModelSource> {
  const split = splitAdapterRef(ref);
  const adapter = split.adapter;
  let model = split.model;
  if (!existsSync(model) && HUB_ID.test(model)) {
    // Downloaded (or found in the HF cache) as a model folder, then streamed like any other.
    try {
      model = await downloadModel(parseHubId(model), { onProgress: stderrProgress() });
    } catch (error) {
      if (error instanceof UsageError) throw new UsageError(`model ${ref}: ${error.message}`);
      throw error;
    }
  }
  // A folder with factored or quantised layers is opened whole (densified, dequantised), not
  // streamed tensor by tensor.
  const folder =
    isDir(model) &&
    existsSync(join(model, CONFIG_FILE)) &&
    !isFactoredFolder(model) &&
    !isQuantizedFolder(model);
  if (folder && adapter === undefined) return openLazyFolder(ref, model);
  if (folder) {
    // A model folder needs no tokenizer to be merged: load it without openModel's check.
    const lazy = await openLazyFolder(ref, model);
    const params: Record<string, np.Array> = {};
    try {
      for (const name of [...Object.keys(lazy.shapes), ...Object.keys(lazy.projections)]) {
        params[name] = await lazy.read(name);
      }
    } catch (error) {
      tree.dispose(params);
      throw error;
    }
    const merged = (await applyAdapter(params as never, adapter!)) as Record<string, np.Array>;
    return { ...lazy, read: async (name) => merged[name]!.ref, close: () => tree.dispose(merged) };
  }
  let opened: Awaited<ReturnType<typeof openModel>>;
  try {
    opened = await openModel(model);
  } catch (error) {
    if (error instanceof UsageError) throw new UsageError(`model ${ref}: ${error.message}`);
    throw error;
  }
  let params = opened.params as Record<string, np.Array>;
  if (adapter !== undefined) params = (await applyAdapter(opened.params, adapter)) as never;
  const config = opened.config;
  const tokenizer = opened.tokenizer;
  return {
    ref,
    config,
    configJson: toHfConfig(config) as Record<string, unknown>,
    shapes: llamaParamShapes(config),
    projections: projectionShapes(ref, config, (name) => params[name]?.shape),
    read: async (name) => asFloat32(params[name]!.ref),
    tokenizerFiles: () => tokenizerFiles(tokenizer.toJSON()),
    close: () => tree.dispose(params),
  };
}

async function openLazyFolder(ref: string, dir: string): Promise<ModelSource> {
  let configJson: Record<string, unknown>;
  try {
    configJson = JSON.parse(readFileSync(join(dir, CONFIG_FILE), "utf8"));
  } catch (error) {
    throw new UsageError(`model ${ref}: cannot read ${CONFIG_FILE}: ${(error as Error).message}`);
  }
  if (configJson.model_type !== "llama") {
    throw new UsageError(
      `model ${ref}: model_type ${JSON.stringify(configJson.model_type)}; merge accepts LLaMA-style models (model_type "llama")`,
    );
  }
  let config: LlamaConfig;
  try {
    config = fromHfConfig(configJson as never);
  } catch (error) {
    throw new UsageError(`model ${ref}: ${CONFIG_FILE}: ${(error as Error).message}`);
  }
  const files = weightFiles(dir, ref);
  const opened: LazySafetensors[] = [];
  for (const file of files) {
    try {
      opened.push(await openSafetensorsLazy(file));
    } catch (error) {
      throw new UsageError(`model ${ref}: ${(error as Error).message.split("\n")[0]}`);
    }
  }
  const where = new Map<string, LazySafetensors>();
  for (const f of opened) for (const name of f.infos.keys()) where.set(name, f);
  const shapes = llamaParamShapes(config);
  for (const [name, shape] of Object.entries(shapes)) {
    const file = where.get(name);
    if (file === undefined) {
      throw new UsageError(`model ${ref}: missing weights for ${name} (its config.json needs it)`);
    }
    const got = file.infos.get(name)!.shape;
    if (got.join(",") !== shape.join(",")) {
      throw new UsageError(
        `model ${ref}: ${name} has shape [${got}], its config.json says [${shape}]`,
      );
    }
  }
  return {
    ref,
    config,
    configJson,
    shapes,
    projections: projectionShapes(ref, config, (name) => where.get(name)?.infos.get(name)?.shape),
    read: async (name) => asFloat32(await where.get(name)!.read(name)),
    tokenizerFiles: () => {
      const path = join(dir, TOKENIZER_FILE);
      if (!existsSync(path)) return undefined;
      readTokenizerFile(path); // refuse a broken file now rather than write it out
      return { [TOKENIZER_FILE]: readFileSync(path, "utf8") };
    },
    close: () => {},
  };
}

/** The residual projections a model holds (see ModelSource.projections), by name. */
function projectionShapes(
  ref: string,
  config: LlamaConfig,
  shapeOf: (name: string) => readonly number[] | undefined,
): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  const d = config.hidden_size;
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const name = `model.layers.${i}.${RESIDUAL_PROJECTION}`;
    const shape = shapeOf(name);
    if (shape === undefined) continue;
    if (shape.join(",") !== `${d},${d}`) {
      throw new UsageError(`model ${ref}: ${name} has shape [${shape}], expected [${d},${d}]`);
    }
    out[name] = [...shape];
  }
  return out;
}

function weightFiles(dir: string, ref: string): string[] {
  const index = join(dir, WEIGHTS_INDEX_FILE);
  if (existsSync(index)) {
    let map: unknown;
    try {
      map = JSON.parse(readFileSync(index, "utf8")).weight_map;
    } catch (error) {
      throw new UsageError(`model ${ref}: ${WEIGHTS_INDEX_FILE}: ${(error as Error).message}`);
    }
    if (typeof map !== "object" || map === null) {
      throw new UsageError(`model ${ref}: ${WEIGHTS_INDEX_FILE} has no weight_map`);
    }
    const shards = [...new Set(Object.values(map as Record<string, unknown>))];
    for (const s of shards) {
      if (typeof s !== "string" || s.includes("/") || s.includes("\\")) {
        throw new UsageError(`model ${ref}: ${WEIGHTS_INDEX_FILE}: bad shard name ${s}`);
      }
    }
    return shards.map((s) => join(dir, s as string));
  }
  if (!existsSync(join(dir, WEIGHTS_FILE))) {
    throw new UsageError(`model ${ref}: missing weights (no ${WEIGHTS_FILE} in ${dir})`);
  }
  return [join(dir, WEIGHTS_FILE)];
}
