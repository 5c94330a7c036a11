/**
 * Models with adapters, for the commands that take `--model` and `--adapter` (finetune, adapter
 * merge, generate, eval): open a base model (a run folder, a fine-tuning run folder or a model
 * folder), fingerprint its weight files, and apply a PEFT adapter folder to it.
 *
 * Rule: a run folder is its checkpoint's model and trainer.json's tokenizer; a fine-tuning run
 * folder is its base with its `adapter/` merged in; a model folder is config.json + weights with
 * its tokenizer.json when it holds Rankwise's tokenizer JSON. The fingerprint is the SHA-256 of
 * each weight file (what a fine-tuning checkpoint records and checks on resume).
 *
 * Deviation: until src/nn/open-model.ts (Hub ids, HF tokenizers) lands, `openBase` is the local
 * stand-in below; a Hub id is refused with one line.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Tokenizer, tokenizerFromJSON } from "../data/tokenizer.js";
import { UsageError } from "../engine/errors.js";
import * as tree from "../engine/tree.js";
import type { LlamaParams } from "../nn/llama.js";
import type { LlamaConfig } from "../nn/llama-config.js";
import { loadModel, WEIGHTS_FILE, WEIGHTS_INDEX_FILE } from "../nn/pretrained.js";
import { disposeMergeState, loadAdapter, safeMerge, shapesOf } from "../peft/index.js";
import { checkpointPath, hasCheckpoint, loadCheckpoint } from "./checkpoint.js";

/** The folder of a fine-tuning run's adapter (a PEFT folder). */
export const ADAPTER_DIR = "adapter";

/** An opened model: configuration, parameters (the caller owns them) and tokenizer if known. */
export interface OpenedModel {
  config: LlamaConfig;
  params: LlamaParams;
  tokenizer?: Tokenizer;
  /** What was opened: "run", "finetune-run" or "model". */
  source: string;
  /** The files whose bytes are the weights (for the fingerprint). */
  weightFiles: string[];
}

/** One weight file's fingerprint. */
export interface FileDigest {
  file: string;
  sha256: string;
}

/** The base a fine-tuning run was started from (recorded in its configuration). */
export interface BaseReference {
  /** As given to --model. */
  model: string;
  /** Absolute path of the folder opened. */
  path: string;
  files: FileDigest[];
}

/** Whether `dir` is a fine-tuning run (its checkpoint's configuration names a base). */
export function isFinetuneRun(dir: string): boolean {
  try {
    const meta = JSON.parse(readFileSync(join(checkpointPath(dir), "trainer.json"), "utf8"));
    return meta?.config?.finetune !== undefined;
  } catch {
    return false;
  }
}

/** The configuration recorded by a fine-tuning run's checkpoint (unverified). */
function finetuneBase(dir: string): BaseReference {
  const meta = JSON.parse(readFileSync(join(checkpointPath(dir), "trainer.json"), "utf8"));
  return meta.config.finetune.base as BaseReference;
}

function modelWeightFiles(dir: string): string[] {
  const index = join(dir, WEIGHTS_INDEX_FILE);
  if (!existsSync(index)) return [join(dir, WEIGHTS_FILE)];
  const map = JSON.parse(readFileSync(index, "utf8")).weight_map as Record<string, string>;
  return [...new Set(Object.values(map))].map((f) => join(dir, f));
}

/** A model folder's tokenizer.json when it is Rankwise's own format (else undefined). */
function folderTokenizer(dir: string): Tokenizer | undefined {
  const path = join(dir, "tokenizer.json");
  if (!existsSync(path)) return undefined;
  try {
    return tokenizerFromJSON(JSON.parse(readFileSync(path, "utf8")));
  } catch {
    return undefined;
  }
}

/**
 * Open `spec` (run folder, fine-tuning run folder or model folder). Errors are one line. The
 * caller owns `params`.
 */
export async function openBase(spec: string, flag = "--model"): Promise<OpenedModel> {
  const stat = statSync(spec, { throwIfNoEntry: false });
  if (!stat?.isDirectory()) {
    const hubLike = /^[\w.-]+\/[\w.-]+$/.test(spec) && !existsSync(spec);
    throw new UsageError(
      hubLike
        ? `${flag} ${spec}: Hugging Face Hub ids are not supported here yet; download the model folder and pass its path`
        : `${flag} ${spec}: no such run folder or model folder`,
    );
  }
  if (hasCheckpoint(spec) && isFinetuneRun(spec)) {
    const base = finetuneBase(spec);
    const opened = await openBase(base.path, flag);
    const params = await withAdapter(opened, join(spec, ADAPTER_DIR));
    return {
      ...opened,
      params,
      source: "finetune-run",
      weightFiles: [...opened.weightFiles, join(spec, ADAPTER_DIR, "adapter_model.safetensors")],
    };
  }
  if (hasCheckpoint(spec)) {
    const ck = await loadCheckpoint(spec);
    tree.dispose(ck.optState);
    return {
      config: ck.modelConfig,
      params: ck.params,
      tokenizer: tokenizerFromJSON(ck.meta.tokenizer),
      source: "run",
      weightFiles: [join(checkpointPath(spec), WEIGHTS_FILE)],
    };
  }
  if (!existsSync(join(spec, "config.json"))) {
    throw new UsageError(
      `${flag} ${spec}: not a run folder (no checkpoint/) nor a model folder (no config.json)`,
    );
  }
  let model: Awaited<ReturnType<typeof loadModel>>;
  try {
    model = await loadModel(spec);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${flag} ${spec}: ${(error as Error).message.split("\n")[0]}`);
  }
  if (model.config.model_type !== "llama") {
    tree.dispose(model.params);
    throw new UsageError(`${flag} ${spec}: a ${model.config.model_type} model cannot be adapted`);
  }
  return {
    config: model.config,
    params: model.params,
    tokenizer: folderTokenizer(spec),
    source: "model",
    weightFiles: modelWeightFiles(spec),
  };
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** The fingerprint of an opened base, as a fine-tuning run records it. */
export async function baseReference(spec: string, opened: OpenedModel): Promise<BaseReference> {
  const files: FileDigest[] = [];
  for (const f of opened.weightFiles) files.push({ file: f, sha256: await sha256File(f) });
  return { model: spec, path: resolve(spec), files };
}

/** Throw one line when the base's weight files are not the ones a run was started from. */
export async function checkBaseReference(saved: BaseReference): Promise<void> {
  for (const { file, sha256 } of saved.files) {
    if (!existsSync(file)) {
      throw new UsageError(`cannot resume: the base model's weight file ${file} is gone`);
    }
    if ((await sha256File(file)) !== sha256) {
      throw new UsageError(
        `cannot resume: the base model's weight file ${file} changed since the run started (SHA-256 differs)`,
      );
    }
  }
}

/**
 * The opened model's parameters with the PEFT adapter in `adapterDir` merged in (W + ΔW, DoRA
 * and modules_to_save as src/peft/merge.ts). Consumes `opened.params`; the result is new.
 */
export async function withAdapter(opened: OpenedModel, adapterDir: string): Promise<LlamaParams> {
  let adapter: Awaited<ReturnType<typeof loadAdapter>>;
  try {
    adapter = await loadAdapter(adapterDir, shapesOf(opened.params));
  } catch (error) {
    tree.dispose(opened.params);
    throw error;
  }
  try {
    const { params, state } = await safeMerge(opened.params, adapter.params, adapter.plan);
    disposeMergeState(state);
    return params;
  } finally {
    tree.dispose([opened.params, adapter.params]);
  }
}
