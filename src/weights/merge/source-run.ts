/**
 * A run folder (`rankwise train` or `finetune` output) as a merge source, streamed like a model
 * folder instead of loaded whole (nn/open-model.ts openModel reads the same runs for the other
 * commands; this follows its rules):
 * - a training run: its `checkpoint/` model folder read tensor by tensor (source-folder.ts), once
 *   the files merging reads (config.json, model.safetensors, trainer.json, tokenizer.json) match
 *   the checkpoint's manifest — hashed as streams, and the optimizer state, never read, is not
 *   hashed (loadCheckpoint's verifyManifest reads every file whole);
 * - a fine-tuning run: its base model (the path trainer.json records, itself any model reference)
 *   with the run's `adapter/` merged into each tensor as it is read (source-adapter.ts).
 * The tokenizer is the run's own (trainer.json's), as openModel gives it.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { tokenizerFromJSON } from "../../data/tokenizer.js";
import { tokenizerFiles } from "../../data/tokenizer-file.js";
import { UsageError } from "../../engine/errors.js";
import { CONFIG_FILE, WEIGHTS_FILE } from "../../nn/pretrained.js";
import {
  CHECKPOINT_DIR,
  hasCheckpoint,
  readTrainerMeta,
  type TrainerMeta,
} from "../../train/checkpoint.js";
import { MANIFEST_FILE, type Manifest, manifestStep } from "../../train/manifest.js";
import { withAdapter } from "./source-adapter.js";
import { openFolderSource } from "./source-folder.js";
import type { ModelSource } from "./sources.js";

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();

/** Whether `path` is a run folder (a checkpoint, no config.json of its own). */
export const isRunFolder = (path: string): boolean =>
  isDir(path) && !existsSync(join(path, CONFIG_FILE)) && hasCheckpoint(path);

/**
 * Open the run folder `run` (named `ref` in messages). `openBase` opens a fine-tuning run's base
 * model reference (any kind of source).
 */
export async function openRunSource(
  ref: string,
  run: string,
  openBase: (ref: string) => Promise<ModelSource>,
): Promise<ModelSource> {
  const meta = readTrainerMeta(run);
  const finetune = (meta?.config as { finetune?: { base?: { path?: unknown } } } | undefined)
    ?.finetune;
  const base = finetune?.base?.path;
  if (meta && typeof base === "string") {
    const adapter = join(run, "adapter");
    if (!existsSync(join(adapter, "adapter_config.json"))) {
      throw new UsageError(`fine-tuning run ${run} has no adapter/ yet (it saves one at the end)`);
    }
    if (!existsSync(base)) {
      throw new UsageError(`the base model of fine-tuning run ${run} is gone: ${base}`);
    }
    const source = await withAdapter(await openBase(base), adapter, ref);
    return { ...source, tokenizerFiles: () => runTokenizer(meta) };
  }
  const dir = join(run, CHECKPOINT_DIR);
  await verifyFiles(dir, [CONFIG_FILE, WEIGHTS_FILE, "trainer.json", "tokenizer.json"]);
  if (meta === undefined) {
    throw new UsageError(
      `corrupt checkpoint: ${join(dir, "trainer.json")}: not a Rankwise checkpoint file`,
    );
  }
  if (finetune !== undefined) {
    throw new UsageError(
      `${run} is a fine-tuning run whose trainer.json records no base model: its checkpoint holds an adapter, not a model`,
    );
  }
  const source = await openFolderSource(ref, dir);
  return { ...source, tokenizerFiles: () => runTokenizer(meta) };
}

const runTokenizer = (meta: TrainerMeta) =>
  tokenizerFiles(tokenizerFromJSON(meta.tokenizer).toJSON());

/** Check `names` (those present) against the checkpoint's manifest; one line naming the damage. */
async function verifyFiles(dir: string, names: string[]): Promise<void> {
  const damaged = (file: string, why: string) =>
    new UsageError(
      `corrupt checkpoint: ${join(dir, file)} ${why}; restore the folder from a copy or start a new run`,
    );
  if (manifestStep(dir) === undefined) {
    throw damaged(MANIFEST_FILE, "is missing, unreadable or does not match its own checksum");
  }
  const manifest = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), "utf8")) as Manifest;
  for (const name of names) {
    const file = join(dir, name);
    const entry = manifest.files[name];
    if (entry === undefined) {
      if (existsSync(file) || name === CONFIG_FILE || name === WEIGHTS_FILE) {
        throw damaged(name, "is not listed in the manifest");
      }
      continue;
    }
    const size = statSync(file, { throwIfNoEntry: false })?.size;
    if (size === undefined) throw damaged(name, "is missing");
    if (size !== entry.size)
      throw damaged(name, `has ${size} bytes, the manifest says ${entry.size}`);
    const hash = createHash("sha256");
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
    if (hash.digest("hex") !== entry.sha256) {
      throw damaged(
        name,
        "does not match its SHA-256 in the manifest (its bytes changed after saving)",
      );
    }
  }
}
