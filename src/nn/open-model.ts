/**
 * One opener for every command that takes a model (`generate`, `eval`, `finetune`, `adapter
 * merge`): a spec names
 *
 * - a run folder: its `checkpoint/`, verified against the manifest (train/checkpoint.ts); the
 *   tokenizer is the run's own (trainer.json). A fine-tuning run folder is its base model (the
 *   path its trainer.json records) with the run's `adapter/` merged in;
 * - a model folder: `config.json` + `model.safetensors` (or shards + index; bf16/f16 converted
 *   to float32) + `tokenizer.json` (a run's `checkpoint/` is one too);
 * - a Hugging Face Hub id `owner/name[@revision]`, downloaded into the HF cache (io/hub.ts) and
 *   then opened as a model folder. A local path of that shape wins over the Hub.
 *
 * `tokenizer` ("byte", "char" or a tokenizer.json path) overrides the folder's tokenizer; "char"
 * learns its vocabulary from `text` (the corpus). The tokenizer's ids must fit the model's
 * vocab_size. Bad specs and unreadable folders are one UsageError line.
 *
 * {@link applyAdapter} merges a PEFT adapter folder into opened parameters (`--adapter`).
 *
 * Deviation from the layering (nn below train and peft): this file reads run folders through
 * train/checkpoint.ts and merges adapters through peft/, so that every command opens models one
 * way.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Tokenizer } from "../data/tokenizer.js";
import { tokenizerFromJSON } from "../data/tokenizer.js";
import { readTokenizerFile, TOKENIZER_FILE, tokenizerFromFlag } from "../data/tokenizer-file.js";
import { UsageError } from "../engine/errors.js";
import * as tree from "../engine/tree.js";
import { type DownloadProgress, downloadModel, HUB_ID, parseHubId } from "../io/hub.js";
import { disposeMergeState, loadAnyAdapter, safeMerge, shapesOf } from "../peft/index.js";
import {
  CHECKPOINT_DIR,
  hasCheckpoint,
  loadCheckpoint,
  readTrainerMeta,
  type TrainerMeta,
} from "../train/checkpoint.js";
import type { LlamaParams } from "./llama.js";
import type { LlamaConfig } from "./llama-config.js";
import { densifyLowRank } from "./low-rank.js";
import { CONFIG_FILE, loadModel } from "./pretrained.js";
import { densifySparse, withoutSltrain } from "./sparse-model.js";

/** Options of {@link openModel}. */
export interface OpenModelOptions {
  /** "byte", "char" or a tokenizer.json path: replaces the model's own tokenizer. */
  tokenizer?: string;
  /** The corpus text a "char" tokenizer learns its vocabulary from. */
  text?: string;
  /** Hub cache folder (default: $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Hub address (default: $HF_ENDPOINT or https://huggingface.co). */
  endpoint?: string;
  /** Use only the cache, never the network (default: $HF_HUB_OFFLINE). */
  offline?: boolean;
  /** Hub download progress (the CLI draws it on stderr). */
  onProgress?: (progress: DownloadProgress) => void;
  /**
   * Keep factored (low-rank) modules as factors and SLTrain modules as factors plus sparse values
   * (eval, generate: the forward runs them). Default false: W + B A (SLTrain: (α/r)·B A + S), one
   * dense matrix per module, for every other command.
   */
  keepLowRank?: boolean;
}

/** A model ready to run: configuration, parameters (owned by the caller), tokenizer, origin. */
export interface OpenedModel {
  config: LlamaConfig;
  params: LlamaParams;
  tokenizer: Tokenizer;
  source: { kind: "run" | "folder" | "hub"; path: string };
  /** The run's trainer.json (run folders only): its configuration, step and tokenizer. */
  trainer?: TrainerMeta;
}

const isDir = (path: string) => existsSync(path) && statSync(path).isDirectory();

/** Open a run folder, model folder or Hub id (see the file header). */
export async function openModel(
  spec: string,
  options: OpenModelOptions = {},
): Promise<OpenedModel> {
  if (typeof spec !== "string" || spec.trim() === "") {
    throw new UsageError("the model must be a run folder, a model folder or a Hub id owner/name");
  }
  // hasCheckpoint also completes a save cut between its renames (train/checkpoint.ts).
  if (isDir(spec) && !existsSync(join(spec, CONFIG_FILE)) && hasCheckpoint(spec)) {
    const meta = readTrainerMeta(spec);
    const base = (meta?.config as { finetune?: { base?: { path?: unknown } } } | undefined)
      ?.finetune?.base?.path;
    if (meta && typeof base === "string") return openFinetuneRun(spec, base, meta, options);
    const ck = await loadCheckpoint(spec);
    tree.dispose(ck.optState);
    const source = { kind: "run" as const, path: resolve(spec) };
    return withTokenizer(
      { ...dense(ck.modelConfig, ck.params, options), source, trainer: ck.meta },
      () => tokenizerFromJSON(ck.meta.tokenizer),
      options,
    );
  }
  if (isDir(spec)) return openFolder(spec, { kind: "folder", path: resolve(spec) }, options);
  if (existsSync(spec)) {
    throw new UsageError(
      `${spec} is a file; the model must be a run folder, a model folder (config.json + model.safetensors) or a Hub id owner/name`,
    );
  }
  if (!HUB_ID.test(spec)) {
    throw new UsageError(
      `no model at ${spec}: expected a run folder, a model folder or a Hub id owner/name[@revision]`,
    );
  }
  let dir: string;
  try {
    dir = await downloadModel(parseHubId(spec), options);
  } catch (error) {
    // "runs/lion2" beside a runs/ folder is more likely a mistyped path than a Hub id.
    const owner = spec.split("/")[0]!;
    if (error instanceof UsageError && isDir(owner)) {
      throw new UsageError(
        `no model folder at ${spec} (${owner}/ has none), and as a Hub id: ${error.message}`,
      );
    }
    throw error;
  }
  return openFolder(dir, { kind: "hub", path: dir }, options);
}

/** A fine-tuning run: its base with `<run>/adapter/` merged in, and the run's tokenizer. */
async function openFinetuneRun(
  run: string,
  base: string,
  meta: TrainerMeta,
  options: OpenModelOptions,
): Promise<OpenedModel> {
  const adapter = join(run, "adapter");
  if (!existsSync(join(adapter, "adapter_config.json"))) {
    throw new UsageError(`fine-tuning run ${run} has no adapter/ yet (it saves one at the end)`);
  }
  if (!existsSync(base)) {
    throw new UsageError(`the base model of fine-tuning run ${run} is gone: ${base}`);
  }
  // The run's tokenizer, whatever the base folder holds (it may have none: --tokenizer byte).
  const runTokenizer = () => tokenizerFromJSON(meta.tokenizer);
  const opened = existsSync(join(base, CONFIG_FILE))
    ? await openFolder(base, { kind: "folder", path: base }, {}, runTokenizer)
    : await openModel(base);
  const params = await applyAdapter(opened.params, adapter);
  return withTokenizer(
    { config: opened.config, params, source: { kind: "run", path: resolve(run) }, trainer: meta },
    runTokenizer,
    options,
  );
}

/**
 * The parameters with the PEFT adapter folder `dir` merged in (W + ΔW; DoRA, modules_to_save
 * as peft/merge.ts). Consumes `params`; a mismatch or a broken adapter is one line.
 */
export async function applyAdapter(params: LlamaParams, dir: string): Promise<LlamaParams> {
  let adapter: Awaited<ReturnType<typeof loadAnyAdapter>>;
  try {
    if (!isDir(dir)) throw new UsageError(`--adapter ${dir}: no such adapter folder`);
    adapter = await loadAnyAdapter(dir, shapesOf(params)); // LoRA or any registered type
  } catch (error) {
    tree.dispose(params);
    throw error;
  }
  try {
    const merged = await safeMerge(params, adapter.params, adapter.plan);
    disposeMergeState(merged.state);
    return merged.params;
  } finally {
    tree.dispose([params, adapter.params]);
  }
}

async function openFolder(
  dir: string,
  source: OpenedModel["source"],
  options: OpenModelOptions,
  own = () => folderTokenizer(dir),
): Promise<OpenedModel> {
  if (!existsSync(join(dir, CONFIG_FILE))) {
    throw new UsageError(
      `${dir} is neither a run folder (no ${CHECKPOINT_DIR}/) nor a model folder (no ${CONFIG_FILE})`,
    );
  }
  let model: Awaited<ReturnType<typeof loadModel>>;
  try {
    model = await loadModel(dir);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`cannot open the model in ${dir}: ${firstLine(error)}`);
  }
  if (model.config.model_type !== "llama") {
    tree.dispose(model.params);
    throw new UsageError(
      `${dir} holds an ${model.config.model_type} model; this command needs a LLaMA-style language model`,
    );
  }
  return withTokenizer({ ...dense(model.config, model.params, options), source }, own, options);
}

/**
 * The model as the command needs it: factored and SLTrain modules (./low-rank.ts,
 * ./sparse-model.ts) as they are with `keepLowRank`, else one dense matrix each (W + B A;
 * (α/r)·B A + S, the SLTrain record dropped). Consumes `params`.
 */
function dense(
  config: LlamaConfig,
  params: LlamaParams,
  options: OpenModelOptions,
): { config: LlamaConfig; params: LlamaParams } {
  if (options.keepLowRank) return { config, params };
  return {
    config: withoutSltrain(config),
    params: densifyLowRank(densifySparse(params, config)),
  };
}

/** A model folder's tokenizer: tokenizer.json, else (checkpoints written before it had one)
 *  trainer.json's. */
function folderTokenizer(dir: string): Tokenizer {
  if (existsSync(join(dir, TOKENIZER_FILE))) return readTokenizerFile(join(dir, TOKENIZER_FILE));
  const trainer = join(dir, "trainer.json");
  if (existsSync(trainer)) {
    try {
      return tokenizerFromJSON(JSON.parse(readFileSync(trainer, "utf8")).tokenizer);
    } catch {
      // fall through to the message below
    }
  }
  throw new UsageError(
    `${dir} has no ${TOKENIZER_FILE}; give one with --tokenizer byte|char|<tokenizer.json>`,
  );
}

function withTokenizer(
  model: Omit<OpenedModel, "tokenizer">,
  own: () => Tokenizer,
  options: OpenModelOptions,
): OpenedModel {
  let tokenizer: Tokenizer;
  try {
    tokenizer =
      options.tokenizer !== undefined ? tokenizerFromFlag(options.tokenizer, options.text) : own();
    if (tokenizer.vocabSize > model.config.vocab_size) {
      throw new UsageError(
        `the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${model.config.vocab_size}: they do not belong together`,
      );
    }
  } catch (error) {
    tree.dispose(model.params);
    if (error instanceof UsageError) throw error;
    throw new UsageError(`cannot read the tokenizer of ${model.source.path}: ${firstLine(error)}`);
  }
  return { ...model, tokenizer };
}

const firstLine = (error: unknown) =>
  (error instanceof Error ? error.message : String(error)).split("\n")[0];
