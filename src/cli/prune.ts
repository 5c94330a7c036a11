/**
 * `rankwise prune <model|run> --method <m> --sparsity <s> [--nm N:M] [--calibration <corpus|file>]
 * [--samples n] [--seq-len t] [--seed n] --out <dir>`: one-shot pruning of a LLaMA-style model's
 * decoder linear layers (weights/prune/), written as a model folder (config.json,
 * model.safetensors, tokenizer.json, and prune.json recording what was done) that eval, generate,
 * finetune and merge open.
 *
 * Calibration (methods that need it): --samples sequences of --seq-len tokens from the training
 * part of --calibration (a corpus name or a UTF-8 file; default: a run's own data, else
 * moby-dick), tokenised with the model's own tokenizer, drawn with --seed (weights/calibration.ts).
 * --nm N:M fixes the sparsity at N/M (--sparsity may be left out; if given it must agree).
 * Bad input: one line naming the flag and what it accepts, exit 2.
 */
import { join } from "node:path";
import { tokenizerFiles } from "../data/tokenizer-file.js";
import { UsageError } from "../engine/errors.js";
import * as tree from "../engine/tree.js";
import { writeFileAtomic } from "../io/atomic.js";
import { stderrProgress } from "../io/hub.js";
import { checkOutputDir, ensureOutputDir } from "../io/output-dir.js";
import { openModel } from "../nn/open-model.js";
import { saveModel } from "../nn/pretrained.js";
import { PRUNE_METHODS, pruneModel } from "../weights/prune/index.js";
import { checkSettings } from "../weights/prune/prune-model.js";
import {
  calibrationFlags,
  calibrationInput,
  calibrationSeqLen,
  calibrationText,
  newOutFolder,
} from "./calibration-flags.js";

type Flags = Record<string, string | boolean | undefined>;

/** The record written beside the weights. */
export const PRUNE_RECORD = "prune.json";

/** The validated flags (no model needed yet). */
function parseFlags(opts: Flags) {
  const names = Object.keys(PRUNE_METHODS).join(", ");
  if (typeof opts.method !== "string")
    throw new UsageError(`--method is required: one of ${names}`);
  const method = PRUNE_METHODS[opts.method];
  if (!method) throw new UsageError(`--method must be one of ${names}; got "${opts.method}"`);
  let nm: [number, number] | undefined;
  if (opts.nm !== undefined) {
    const m = /^(\d+):(\d+)$/.exec(String(opts.nm));
    const pair = m ? ([Number(m[1]), Number(m[2])] as [number, number]) : undefined;
    if (!pair || pair[0] < 1 || pair[0] >= pair[1]) {
      throw new UsageError(`--nm must be N:M with 1 ≤ N < M (e.g. 2:4, 4:8), got "${opts.nm}"`);
    }
    nm = pair;
  }
  let sparsity: number;
  if (opts.sparsity === undefined) {
    if (!nm) throw new UsageError("--sparsity is required: a number in [0, 1) (e.g. 0.5)");
    sparsity = nm[0] / nm[1];
  } else {
    sparsity = Number(opts.sparsity);
    if (String(opts.sparsity).trim() === "" || !(sparsity >= 0 && sparsity < 1)) {
      throw new UsageError(`--sparsity must be a number in [0, 1), got "${opts.sparsity}"`);
    }
    if (nm && Math.abs(sparsity - nm[0] / nm[1]) > 1e-12) {
      throw new UsageError(
        `--sparsity ${opts.sparsity} disagrees with --nm ${nm[0]}:${nm[1]} (which prunes ${nm[0]}/${nm[1]}); drop --sparsity`,
      );
    }
  }
  if (nm && !method.nm) throw new UsageError(`--nm: ${method.name} does not define N:M patterns`);
  const out = newOutFolder(opts);
  return { method, nm, sparsity, out, ...calibrationFlags(opts) };
}

export async function pruneCommand(spec: string, opts: Flags): Promise<void> {
  const flags = parseFlags(opts);
  const { method, nm, sparsity, out, samples, seed } = flags;
  checkOutputDir(out);

  const calibrated = method.needs !== "none";
  const { dataName, text } = calibrationText(spec, opts, calibrated);
  const opened = await openModel(spec, { onProgress: stderrProgress() });
  let params = opened.params;
  try {
    const { config } = opened;
    try {
      checkSettings(method, config, { sparsity, nm });
    } catch (error) {
      throw new UsageError(`${nm ? "--nm" : "--sparsity"}: ${(error as Error).message}`);
    }
    const seqLen = calibrationSeqLen(flags.seqLen, config.max_position_embeddings);
    const calibration =
      calibrated && text !== undefined
        ? calibrationInput(opened, dataName, text, { samples, seqLen, seed })
        : undefined;
    const pattern = nm ? `${nm[0]}:${nm[1]}` : `sparsity ${sparsity}`;
    process.stderr.write(
      `pruning ${opened.source.path} with ${method.name} (${pattern}) over ${config.num_hidden_layers} blocks${calibration ? `, calibration: ${samples} × ${seqLen} tokens of ${dataName} (seed ${seed})` : ""}\n`,
    );
    const input = params;
    params = {}; // pruneModel consumes them, also when it throws
    const pruned = pruneModel(input, config, method, {
      sparsity,
      nm,
      calibration,
      onBlock: (i) => process.stderr.write(`  block ${i + 1}/${config.num_hidden_layers} pruned\n`),
    });
    params = pruned.params;
    ensureOutputDir(out);
    await saveModel(out, { config, params });
    for (const [name, body] of Object.entries(tokenizerFiles(opened.tokenizer.toJSON())))
      await writeFileAtomic(join(out, name), body);
    const record = {
      source: opened.source.path,
      ...pruned.summary,
      calibration: calibration ? { data: dataName, samples, seqLen, seed } : null,
    };
    await writeFileAtomic(join(out, PRUNE_RECORD), `${JSON.stringify(record, null, 2)}\n`);
    const { achieved } = pruned.summary;
    if (opts.json) process.stdout.write(`${JSON.stringify(record)}\n`);
    else {
      process.stdout.write(
        `pruned with ${method.name}: ${(achieved * 100).toFixed(2)}% of decoder linear weights are zero: ${out}\n`,
      );
    }
  } finally {
    tree.dispose(params);
  }
}
