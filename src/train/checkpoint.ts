/**
 * Checkpoints: everything needed to continue a run exactly, in one folder.
 *
 *   <out>/checkpoint/config.json, model.safetensors   the model, as Hugging Face lays it out
 *   <out>/checkpoint/tokenizer.json                   its tokenizer, in Hugging Face's format
 *   <out>/checkpoint/optimizer.safetensors            the optimizer state tree
 *   <out>/checkpoint/trainer.json                     step, run configuration, tokenizer,
 *                                                     sampler position and random state
 *   <out>/checkpoint/manifest.json                    size and SHA-256 of each file, written last
 *
 * Written atomically: the new folder is built beside the old one and swapped in with renames, so
 * an interrupted save leaves the previous checkpoint intact; a folder is complete when its
 * manifest is there. Loading verifies every file against the manifest first and names the
 * damaged one. A checkpoint is never written with non-finite weights.
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { join } from "node:path";
import type { numpy as np } from "@jax-js/jax";
import type { SamplerState } from "../data/sampler.js";
import type { TokenizerJSON } from "../data/tokenizer.js";
import { tokenizerFiles } from "../data/tokenizer-file.js";
import type { Tree } from "../engine/tree.js";
import { writeFileAtomic } from "../io/atomic.js";
import { lockOwner } from "../io/lock.js";
import { loadTree, saveTree } from "../io/state-file.js";
import { describeLeaves, nonFiniteLeaves } from "../nn/finite.js";
import type { LlamaConfig } from "../nn/llama-config.js";
import { loadModel, saveModel } from "../nn/pretrained.js";
import { type TrainConfig, UsageError } from "./config.js";
import { manifestStep, verifyManifest, writeManifest } from "./manifest.js";

export const CHECKPOINT_DIR = "checkpoint";
const FORMAT = "rankwise-checkpoint-1";

/**
 * trainer.json of a checkpoint: the step, the run's configuration, the tokenizer and everything
 * else that decides the next step.
 */
export interface TrainerMeta {
  format: string;
  step: number;
  config: TrainConfig;
  tokenizer: TokenizerJSON;
  sampler: SamplerState;
  /** Gradient-spike monitor state (see monitors/spike-monitor.ts). */
  spikes?: Record<string, number | null>;
  /** Steps skipped so far, and in a row up to this step (see run-step.ts). */
  skippedSteps?: number;
  badSteps?: number;
  /** Training seconds so far (a resumed run keeps counting from here). */
  elapsed: number;
}

/**
 * A checkpoint as loaded: trainer state, model configuration, parameters and optimizer state (the
 * caller owns the arrays).
 */
export interface Checkpoint {
  meta: TrainerMeta;
  modelConfig: LlamaConfig;
  params: Record<string, np.Array>;
  optState: Tree<any>;
}

export const checkpointPath = (out: string) => join(out, CHECKPOINT_DIR);

const FILES = ["config.json", "model.safetensors", "optimizer.safetensors", "trainer.json"];
const SAVE_DIR = new RegExp(`^${CHECKPOINT_DIR}\\.(tmp|old)-\\d+$`);

/** Save a checkpoint (borrows the arrays). Refuses non-finite weights. */
export async function saveCheckpoint(out: string, c: Checkpoint): Promise<void> {
  const bad = await nonFiniteLeaves(c.params);
  if (bad.length > 0) {
    throw new Error(
      `refusing to write a checkpoint with non-finite weights (NaN or infinity) in ${describeLeaves(bad)}`,
    );
  }
  // tokenizer.json too, so that checkpoint/ is a complete model folder (generate, eval, finetune).
  const tokenizer = tokenizerFiles(c.meta.tokenizer);
  const files = [...FILES, ...Object.keys(tokenizer)];
  await writeCheckpointFolder(out, c.meta, files, async (tmp) => {
    await saveModel(tmp, { config: c.modelConfig, params: c.params });
    await saveTree(join(tmp, "optimizer.safetensors"), c.optState);
    for (const [name, text] of Object.entries(tokenizer)) {
      await writeFileAtomic(join(tmp, name), text);
    }
  });
}

/**
 * The atomic part of a save, shared with fine-tuning checkpoints (finetune-checkpoint.ts):
 * `write` fills a new folder beside the old one, then trainer.json and the manifest of `files`
 * (which must include trainer.json) are added and the folder is swapped in.
 */
export async function writeCheckpointFolder(
  out: string,
  meta: TrainerMeta,
  files: string[],
  write: (dir: string) => Promise<void>,
): Promise<void> {
  const final = checkpointPath(out);
  const tmp = `${final}.tmp-${process.pid}`;
  const old = `${final}.old-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    mkdirSync(tmp, { recursive: true });
    await write(tmp);
    await writeFileAtomic(join(tmp, "trainer.json"), `${JSON.stringify(meta, null, 2)}\n`);
    // Last: a folder with a manifest is complete (see recoverInterruptedSave).
    await writeManifest(tmp, meta.step, files);
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
  if (existsSync(final)) renameSync(final, old);
  renameSync(tmp, final);
  rmSync(old, { recursive: true, force: true });
}

/**
 * Whether `out` holds a checkpoint folder (complete or damaged: loading tells which). A crash
 * between saveCheckpoint's two renames leaves no `checkpoint` folder but complete
 * `checkpoint.tmp-<pid>` (new) and `checkpoint.old-<pid>` (old) folders; the newest of these is
 * first moved back into place — unless another live process holds the folder's lock (it may be
 * between those renames right now).
 */
export function hasCheckpoint(out: string): boolean {
  recoverInterruptedSave(out);
  return existsSync(checkpointPath(out));
}

function recoverInterruptedSave(out: string): void {
  const final = checkpointPath(out);
  if (existsSync(final) || !existsSync(out) || !statSync(out).isDirectory()) return;
  if (lockOwner(out) !== undefined) return;
  let best: { dir: string; step: number } | undefined;
  for (const name of readdirSync(out)) {
    if (!SAVE_DIR.test(name)) continue;
    const dir = join(out, name);
    const step = manifestStep(dir); // undefined: not finished, the manifest is written last
    if (step !== undefined && (best === undefined || step > best.step)) best = { dir, step };
  }
  if (best) renameSync(best.dir, final);
}

/** Temporary files of atomic writes (io/atomic.ts) and lock take-overs (io/lock.ts). */
const LEFT_BY_KILL = /^(metrics\.jsonl|report\.html)\.tmp-\d+-[0-9a-f]+$|^\.lock\.stale-\d+$/;

/**
 * Remove what interrupted saves and writes left in the run folder: unfinished checkpoint
 * folders (after completing a save cut between its renames) and temporary files. Call only
 * holding the folder's lock: nobody else may be writing them.
 */
export function removeStaleSaves(out: string): void {
  recoverInterruptedSave(out);
  if (!existsSync(out)) return;
  for (const name of readdirSync(out)) {
    if (SAVE_DIR.test(name) || LEFT_BY_KILL.test(name))
      rmSync(join(out, name), { recursive: true, force: true });
  }
}

/**
 * The checkpoint's trainer.json, unverified (to check a configuration before loading anything),
 * or undefined if it cannot be read: the verified load names the damage.
 */
export function readTrainerMeta(out: string): TrainerMeta | undefined {
  try {
    const meta = JSON.parse(readFileSync(join(checkpointPath(out), "trainer.json"), "utf8"));
    return meta?.format === FORMAT && Number.isInteger(meta.step) && meta.config ? meta : undefined;
  } catch {
    return undefined;
  }
}

/** Load a checkpoint, verified against its manifest; any damage is one line naming the file. */
export async function loadCheckpoint(out: string): Promise<Checkpoint> {
  const dir = checkpointPath(out);
  if (!hasCheckpoint(out)) throw new UsageError(`no checkpoint in ${out} (expected ${dir})`);
  verifyManifest(dir);
  const read = async <T>(what: string, fn: () => T | Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof UsageError) throw error;
      // A message that already names a path in the checkpoint keeps it (no doubled path, and
      // "no config.json in …" is not blamed on model.safetensors); others get the file read.
      const message = (error as Error).message.split("\n")[0];
      throw new UsageError(
        `corrupt checkpoint: ${message.includes(dir) ? message : `${join(dir, what)}: ${message}`}`,
      );
    }
  };
  const meta = await read(
    "trainer.json",
    () => JSON.parse(readFileSync(join(dir, "trainer.json"), "utf8")) as TrainerMeta,
  );
  if (meta.format !== FORMAT || !Number.isInteger(meta.step)) {
    throw new UsageError(`corrupt checkpoint: ${join(dir, "trainer.json")}: not a ${FORMAT} file`);
  }
  if ((meta.config as { finetune?: unknown } | undefined)?.finetune !== undefined) {
    throw new UsageError(
      `${out} is a fine-tuning run: its checkpoint holds an adapter, not a model (open the run with generate or eval, or its adapter with rankwise adapter inspect ${join(out, "adapter")})`,
    );
  }
  const model = await read("model.safetensors", () => loadModel(dir));
  let optState: Tree<any>;
  try {
    optState = (
      await read("optimizer.safetensors", () => loadTree(join(dir, "optimizer.safetensors")))
    ).tree;
  } catch (error) {
    for (const a of Object.values(model.params)) a.dispose();
    throw error;
  }
  return { meta, modelConfig: model.config as LlamaConfig, params: model.params, optState };
}

export const newMeta = (m: Omit<TrainerMeta, "format">): TrainerMeta => ({ format: FORMAT, ...m });
