/**
 * Base models for `finetune` and `adapter merge`: open a base (a run folder, a fine-tuning run
 * folder, a model folder or a Hub id), fingerprint its weight files, and apply a PEFT adapter
 * folder to it.
 *
 * Rule: run folders, model folders and Hub ids open through src/nn/open-model.ts; a fine-tuning
 * run folder (its checkpoint holds an adapter, not a model) is its base with its `adapter/`
 * merged in. The fingerprint is the SHA-256 of each weight file (what a fine-tuning checkpoint
 * records and checks on resume).
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Tokenizer } from "../data/tokenizer.js";
import { UsageError } from "../engine/errors.js";
import type { LlamaParams } from "../nn/llama.js";
import type { LlamaConfig } from "../nn/llama-config.js";
import { applyAdapter, type OpenModelOptions, openModel } from "../nn/open-model.js";
import { WEIGHTS_FILE, WEIGHTS_INDEX_FILE } from "../nn/pretrained.js";
import { CHECKPOINT_DIR, checkpointPath, hasCheckpoint } from "./checkpoint.js";
import { verifyManifest } from "./manifest.js";

/** The folder of a fine-tuning run's adapter (a PEFT folder). */
export const ADAPTER_DIR = "adapter";

/** An opened model: configuration, parameters (the caller owns them) and tokenizer. */
export interface OpenedModel {
  config: LlamaConfig;
  params: LlamaParams;
  tokenizer: Tokenizer;
  /** What was opened: "run", "finetune-run", "folder" or "hub". */
  source: string;
  /** The folder opened (a Hub id's snapshot folder in the HF cache). */
  path: string;
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

/** The base recorded by a fine-tuning run's checkpoint (unverified). */
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

/**
 * Open `spec` (run folder, fine-tuning run folder, model folder or Hub id) through openModel;
 * a fine-tuning run is its base with its adapter merged in. Errors are one line. The caller owns
 * `params`.
 */
export async function openBase(spec: string, options: OpenModelOptions = {}): Promise<OpenedModel> {
  if (statSync(spec, { throwIfNoEntry: false })?.isDirectory() && isFinetuneRun(spec)) {
    if (!hasCheckpoint(spec)) throw new UsageError(`no checkpoint in ${spec}`);
    verifyManifest(checkpointPath(spec));
    const base = finetuneBase(spec);
    const opened = await openBase(base.path, options);
    const params = await withAdapter(opened, join(spec, ADAPTER_DIR));
    return {
      ...opened,
      params,
      source: "finetune-run",
      path: resolve(spec),
      weightFiles: [...opened.weightFiles, join(spec, ADAPTER_DIR, "adapter_model.safetensors")],
    };
  }
  const opened = await openModel(spec, options);
  const { kind, path } = opened.source;
  const weightFiles =
    kind === "run" ? [join(path, CHECKPOINT_DIR, WEIGHTS_FILE)] : modelWeightFiles(path);
  return {
    config: opened.config,
    params: opened.params,
    tokenizer: opened.tokenizer,
    source: kind,
    path,
    weightFiles,
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
  return { model: spec, path: opened.path, files };
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

/** The opened model's parameters with the PEFT adapter in `adapterDir` merged in (openModel's
 *  applyAdapter). Consumes `opened.params`; the result is new. */
export const withAdapter = (opened: OpenedModel, adapterDir: string): Promise<LlamaParams> =>
  applyAdapter(opened.params, adapterDir);
