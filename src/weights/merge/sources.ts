/**
 * The models a merge reads, one tensor at a time, whatever their kind, so that no model is ever
 * held whole (mergekit's rule):
 * - a model folder (config.json + model.safetensors or shards + index), and a Hub id once
 *   downloaded into the HF cache (io/hub.ts): headers first, then each tensor by offset when the
 *   merge reaches it; quantised tensors dequantised and factored ones densified one at a time
 *   (source-folder.ts);
 * - a run folder: its checkpoint's model folder the same way, or a fine-tuning run's base with
 *   its adapter (source-run.ts);
 * - `model+adapter`: the model streamed, each tensor merged with its module's ΔW as it is read
 *   (source-adapter.ts; the adapter's small tensors are held).
 * A model folder needs no tokenizer to be merged. Every tensor is handed out as float32.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import type { numpy as np } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import { downloadModel, HUB_ID, parseHubId, stderrProgress } from "../../io/hub.js";
import type { LlamaConfig } from "../../nn/llama-config.js";
import { CONFIG_FILE } from "../../nn/pretrained.js";
import { withAdapter } from "./source-adapter.js";
import { openFolderSource } from "./source-folder.js";
import { isRunFolder, openRunSource } from "./source-run.js";

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

/** Split "model+adapter" (mergekit's LoRA syntax); a path that exists as written wins. */
export function splitAdapterRef(ref: string): { model: string; adapter?: string } {
  const plus = ref.lastIndexOf("+");
  if (plus <= 0 || existsSync(ref)) return { model: ref };
  return { model: ref.slice(0, plus), adapter: ref.slice(plus + 1) };
}

/** Open one model reference (see the file header). */
export async function openSource(ref: string): Promise<ModelSource> {
  const split = splitAdapterRef(ref);
  const source = await openModelRef(ref, split.model);
  return split.adapter === undefined ? source : withAdapter(source, split.adapter, ref);
}

/** A model folder, run folder or Hub id, without an adapter. */
async function openModelRef(ref: string, model: string): Promise<ModelSource> {
  if (isRunFolder(model)) return openRunSource(ref, model, (base) => openSource(base));
  if (isDir(model) && existsSync(join(model, CONFIG_FILE))) return openFolderSource(ref, model);
  if (isDir(model)) {
    throw new UsageError(
      `model ${ref}: ${model} is neither a run folder (no checkpoint/) nor a model folder (no ${CONFIG_FILE})`,
    );
  }
  if (existsSync(model)) {
    throw new UsageError(
      `model ${ref}: ${model} is a file; a model is a run folder, a model folder (config.json + model.safetensors) or a Hub id owner/name`,
    );
  }
  if (!HUB_ID.test(model)) {
    throw new UsageError(
      `model ${ref}: no model at ${model}: expected a run folder, a model folder or a Hub id owner/name[@revision]`,
    );
  }
  let dir: string;
  try {
    // Downloaded (or found in the HF cache) as a model folder, then streamed like any other.
    dir = await downloadModel(parseHubId(model), { onProgress: stderrProgress() });
  } catch (error) {
    if (error instanceof UsageError) throw new UsageError(`model ${ref}: ${error.message}`);
    throw error;
  }
  return openFolderSource(ref, dir);
}
