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
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
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
  /** Gradient-spike monitor state (see monitors/spike-monitor.ts). */
  spikes?: Record<string, number | null>;
  /** Training seconds so far (a resumed run keeps counting from here). */
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
  try {
    mkdirSync(tmp, { recursive: true });
    await saveModel(tmp, { config: c.modelConfig, params: c.params });
    await saveTree(join(tmp, "optimizer.safetensors"), c.optState);
    // Last: a folder with trainer.json is complete (see recoverInterruptedSave).
    writeFileSync(join(tmp, "trainer.json"), `${JSON.stringify(c.meta, null, 2)}\n`);
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
  if (existsSync(final)) renameSync(final, old);
  renameSync(tmp, final);
  rmSync(old, { recursive: true, force: true });
}

/**
 * Whether `out` holds a checkpoint. A crash between saveCheckpoint's two renames leaves no
 * `checkpoint` folder but complete `checkpoint.tmp-<pid>` (new) and `checkpoint.old-<pid>` (old)
 * folders; the newest of these is first moved back into place.
 */
export function hasCheckpoint(out: string): boolean {
  recoverInterruptedSave(out);
  return existsSync(join(checkpointPath(out), "trainer.json"));
}

function recoverInterruptedSave(out: string): void {
  const final = checkpointPath(out);
  if (existsSync(final) || !existsSync(out) || !statSync(out).isDirectory()) return;
  const pattern = new RegExp(`^${CHECKPOINT_DIR}\\.(tmp|old)-\\d+$`);
  let best: { dir: string; step: number } | undefined;
  for (const name of readdirSync(out)) {
    if (!pattern.test(name)) continue;
    const dir = join(out, name);
    let step: unknown;
    try {
      step = JSON.parse(readFileSync(join(dir, "trainer.json"), "utf8")).step;
    } catch {
      continue; // not finished: trainer.json is written last
    }
    if (Number.isInteger(step) && (best === undefined || (step as number) > best.step))
      best = { dir, step: step as number };
  }
  if (best) renameSync(best.dir, final);
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
