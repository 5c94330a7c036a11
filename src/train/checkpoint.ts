/**
 * Checkpoints: everything needed to continue a run exactly, in one folder.
 *
 *   <out>/checkpoint/config.json, model.safetensors   the model, as Hugging Face lays it out
 *   <out>/checkpoint/optimizer.safetensors            the optimizer state tree
 *   <out>/checkpoint/trainer.json                     step, run configuration, tokenizer,
 *                                                     sampler position and random state
 *
 * Written atomically: the new folder is built beside the old one and swapped in with renames, so
 * an interrupted save leaves the previous checkpoint intact.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { numpy as np } from "@jax-js/jax";
import type { SamplerState } from "../data/sampler.js";
import type { TokenizerJSON } from "../data/tokenizer.js";
import type { Tree } from "../engine/tree.js";
import { loadTree, saveTree } from "../io/state-file.js";
import type { LlamaConfig } from "../nn/llama-config.js";
import { loadModel, saveModel } from "../nn/pretrained.js";
import { type TrainConfig, UsageError } from "./config.js";

export const CHECKPOINT_DIR = "checkpoint";
const FORMAT = "rankwise-checkpoint-1";

export interface TrainerMeta {
  format: string;
  step: number;
  config: TrainConfig;
  tokenizer: TokenizerJSON;
  sampler: SamplerState;
  /** Seed of the sampling RNG for the next text sample. */
  elapsed: number;
}

export interface Checkpoint {
  meta: TrainerMeta;
  modelConfig: LlamaConfig;
  params: Record<string, np.Array>;
  optState: Tree<any>;
}

export const checkpointPath = (out: string) => join(out, CHECKPOINT_DIR);

/** Save a checkpoint (borrows the arrays). */
export async function saveCheckpoint(out: string, c: Checkpoint): Promise<void> {
  const final = checkpointPath(out);
  const tmp = `${final}.tmp-${process.pid}`;
  const old = `${final}.old-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await saveModel(tmp, { config: c.modelConfig, params: c.params });
  await saveTree(join(tmp, "optimizer.safetensors"), c.optState);
  writeFileSync(join(tmp, "trainer.json"), `${JSON.stringify(c.meta, null, 2)}\n`);
  if (existsSync(final)) renameSync(final, old);
  renameSync(tmp, final);
  rmSync(old, { recursive: true, force: true });
}

export function hasCheckpoint(out: string): boolean {
  return existsSync(join(checkpointPath(out), "trainer.json"));
}

/** Load a checkpoint; any damage is reported as one line naming the file. */
export async function loadCheckpoint(out: string): Promise<Checkpoint> {
  const dir = checkpointPath(out);
  if (!hasCheckpoint(out))
    throw new UsageError(`no checkpoint in ${out} (expected ${join(dir, "trainer.json")})`);
  const read = async <T>(what: string, fn: () => T | Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      throw new UsageError(
        `corrupt checkpoint: ${join(dir, what)}: ${(error as Error).message.split("\n")[0]}`,
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
  const model = await read("model.safetensors", () => loadModel(dir));
  const optState = (
    await read("optimizer.safetensors", () => loadTree(join(dir, "optimizer.safetensors")))
  ).tree;
  return { meta, modelConfig: model.config as LlamaConfig, params: model.params, optState };
}

export const newMeta = (m: Omit<TrainerMeta, "format">): TrainerMeta => ({ format: FORMAT, ...m });
