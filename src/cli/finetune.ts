/**
 * `rankwise finetune`: train an adapter over a base model (run folder or model folder), with
 * every `train` flag that applies, checkpoints, resume and a report; the adapter is written to
 * `<out>/adapter/` as a PEFT folder. A thin layer over src/train/finetune.ts.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { lockOwner } from "../io/lock.js";
import { checkpointPath, hasCheckpoint } from "../train/checkpoint.js";
import { UsageError } from "../train/config.js";
import { finetune } from "../train/finetune.js";
import { ADAPTER_METHODS, validateFinetuneConfig } from "../train/finetune-config.js";
import { verifyManifest } from "../train/manifest.js";
import { savedStartConfig } from "../train/run-announce.js";
import { interruptSignal, timestamp } from "./train.js";
import { addTrainFlags, configFromFlags } from "./train-flags.js";

/** The options finetune adds to the training flags. */
export function addFinetuneFlags(cmd: Command): Command {
  cmd
    .option(
      "--model <dir|run|hub-id>",
      "base model: a run folder, a model folder or a Hub id owner/name (default: none; required)",
    )
    .option("--tokenizer <byte|char|file>", "tokenizer (default: the base model's own)")
    .option("--adapter <method>", `adapter: ${ADAPTER_METHODS.join(", ")} (required)`)
    .option("--rank <r>", "adapter rank (default: 8)")
    .option("--alpha <a>", "LoRA alpha; the update is scaled by alpha/r (default: 8)")
    .option(
      "--target <modules>",
      "comma-separated module names, or all-linear (default: q_proj,v_proj)",
    )
    .option("--rslora", "rank-stabilised scaling alpha/√r")
    .option("--optimizer <name>", "optimizer (see `rankwise optimizers`)")
    .option("--out <dir>", "run folder (default: runs/<time>-finetune-<adapter>)")
    .option("--resume <dir>", "continue the fine-tuning run in <dir> from its checkpoint")
    .option("--quiet", "no progress output");
  // --reweight and --prune-data shape the decoder's own training loop only (train/reweight).
  return addTrainFlags(cmd, [
    "model",
    "tokenizer",
    "reweight",
    "pruneData",
    "dataScores",
    "gradient",
    "sdd",
    "sltrain",
    "sltrainDensity",
    "sltrainAlpha",
  ]);
}

/** The configuration a fine-tuning run folder was started with (checkpoint, else start row). */
function savedConfig(out: string): Record<string, unknown> {
  const owner = lockOwner(out);
  if (owner !== undefined) {
    throw new UsageError(
      `${out} is in use by process ${owner.pid} on ${owner.host} (since ${owner.since}); wait for it to finish`,
    );
  }
  let config: Record<string, unknown> | undefined;
  if (hasCheckpoint(out)) {
    verifyManifest(checkpointPath(out));
    const path = join(checkpointPath(out), "trainer.json");
    try {
      config = JSON.parse(readFileSync(path, "utf8")).config;
    } catch (error) {
      throw new UsageError(`corrupt checkpoint: ${path}: ${(error as Error).message}`);
    }
  } else {
    config = savedStartConfig(out) as Record<string, unknown> | undefined;
  }
  if (config === undefined) throw new UsageError(`cannot resume: no checkpoint in ${out}`);
  if (config.finetune === undefined)
    throw new UsageError(
      `cannot resume: ${out} is a training run, not a fine-tuning run (use rankwise train --resume)`,
    );
  return config;
}

const FINETUNE_KEYS = ["model", "tokenizer", "adapter", "rank", "alpha", "target", "rslora"];

export async function finetuneCommand(opts: Record<string, unknown>): Promise<void> {
  const given = configFromFlags(opts);
  for (const key of [...FINETUNE_KEYS, "optimizer"]) {
    if (opts[key] !== undefined) given[key] = opts[key];
  }
  const resume = opts.resume !== undefined;
  let out: string;
  let input: Record<string, unknown>;
  if (resume) {
    out = String(opts.resume);
    // The saved top-level tokenizer is the resolved type; --tokenizer lives in finetune.tokenizer.
    const { tokenizer: _resolved, ...saved } = savedConfig(out);
    input = { ...saved, ...given };
  } else {
    input = given;
    out = "";
  }
  const config = validateFinetuneConfig(input);
  if (!resume)
    out = String(
      opts.out ?? config.out ?? join("runs", `${timestamp()}-finetune-${config.finetune.method}`),
    );
  const interrupt = interruptSignal();
  try {
    const result = await finetune({
      config,
      out,
      resume,
      quiet: Boolean(opts.quiet),
      signal: interrupt.signal,
    });
    if (result.interrupted) {
      process.stdout.write(
        `interrupted at step ${result.step}; resume with: rankwise finetune --resume ${out}\n`,
      );
      process.exitCode = interrupt.exitCode();
      return;
    }
    const share = ((100 * result.trainableParameters) / result.baseParameters).toPrecision(3);
    process.stdout.write(
      `final validation loss ${result.valLoss.toFixed(4)} (perplexity ${Math.exp(result.valLoss).toFixed(2)}) after ${result.step} steps; ` +
        `${result.trainableParameters.toLocaleString("en-US")} trainable parameters (${share}% of the base)\n`,
    );
    if (result.sample) {
      process.stdout.write(
        `sample, continuing ${JSON.stringify(result.prompt ?? "")}:\n${result.sample}\n`,
      );
    }
    process.stdout.write(`adapter: ${join(out, "adapter")}\nreport: ${join(out, "report.html")}\n`);
  } finally {
    interrupt.dispose();
  }
}
