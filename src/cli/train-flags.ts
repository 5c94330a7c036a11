/** The training flags shared by `train` and `compare`, and their mapping to a TrainConfig. */
import type { Command } from "commander";
import { SLTRAIN_DEFAULTS } from "../optim/optimizers/sltrain.js";
import { readConfigFile, type TrainConfig, UsageError } from "../train/config.js";

/** Flag → config key. Values stay strings here; validateConfig parses and checks them. */
const FLAGS: [string, keyof TrainConfig, string][] = [
  ["--model <preset>", "model", "model preset: tiny, small, default, medium"],
  [
    "--data <corpus|file>",
    "data",
    "moby-dick, sotu, or a UTF-8 text file; several, comma-separated, train on a mixture",
  ],
  [
    "--mixing <rule>",
    "mixing",
    "domain weights with several --data domains: uniform, fixed:w1,w2,…, doremi, dga, odm (default uniform); upgrad: equal rows per domain, one gradient each, aggregated by UPGrad",
  ],
  ["--mixing-target <domain>", "mixingTarget", "dga: the domain whose loss the mixture serves"],
  ["--mixing-every <k>", "mixingEvery", "dga: update the weights every k steps (default 10)"],
  ["--reference <run>", "reference", "doremi: the reference run folder (same --data)"],
  ["--tokenizer <type>", "tokenizer", "char or byte"],
  ["--lr <rate>", "lr", "peak learning rate (default: the optimizer's)"],
  ["--schedule <name>", "schedule", "constant, cosine, linear or wsd"],
  ["--warmup <steps>", "warmup", "linear warm-up steps"],
  ["--steps <n>", "steps", "optimizer steps to train (the target step when resuming)"],
  ["--batch-size <n>", "batchSize", "sequences per step"],
  ["--seq-len <n>", "seqLen", "tokens per sequence"],
  ["--seed <n>", "seed", "random seed (init, batches, sampling)"],
  ["--eval-every <n>", "evalEvery", "validate every n steps (0 = only at the end)"],
  ["--log-every <n>", "logEvery", "write a metrics row every n steps"],
  ["--checkpoint-every <n>", "checkpointEvery", "checkpoint every n steps (0 = only at the end)"],
  ["--clip-norm <x>", "clipNorm", "clip the gradient's global norm (0 = off)"],
  ["--accumulate <k>", "accumulate", "micro-batches per optimizer step"],
  [
    "--max-bad-steps <n>",
    "maxBadSteps",
    "stop as diverged after n steps in a row with a non-finite loss or gradient (each skipped)",
  ],
  ["--sample-length <n>", "sampleLength", "characters generated at the end"],
  [
    "--monitors <list>",
    "monitors",
    "matrix monitors, comma-separated: spectral (σ₁, spectral alignment), alignment (cos(G, W)), rank (stable rank); none by default",
  ],
  [
    "--regularizer <list>",
    "regularizer",
    "regularisers' gradients before the optimizer: spectral:λ (σ₁ kept near its initial value), norm:λ (unit-norm rows)",
  ],
  [
    "--monitor-every <n>",
    "monitorEvery",
    "steps between monitor rows (with --monitors; default 10)",
  ],
  [
    "--init <scheme>",
    "init",
    "initialisation of a fresh model: hf (Hugging Face's normal, default) or idinit (padded identities, residual ends zero)",
  ],
  [
    "--gradient <source>",
    "gradient",
    "gradient source: backprop (default), forward[:k] (forward gradients: k random directions through jvp, default 1; no backward pass), randomized:k (backprop with the linear layers' weight gradients through a k-column random sketch)",
  ],
  [
    "--sdd",
    "sdd",
    "Scale-Distribution Decoupling: each decoder linear layer's output RMS-normalised, times a learned scale (saved with the weights)",
  ],
  [
    "--sltrain <rank>",
    "sltrain",
    "SLTrain as a model option: each decoder linear layer trained as (α/r)·B A + S, B A of rank r, S sparse on a fixed random support (no dense weight; any --optimizer)",
  ],
  [
    "--sltrain-density <δ>",
    "sltrainDensity",
    `--sltrain: fraction of each matrix in S (default ${SLTRAIN_DEFAULTS.density})`,
  ],
  [
    "--sltrain-alpha <α>",
    "sltrainAlpha",
    `--sltrain: α of the scale α/r (default ${SLTRAIN_DEFAULTS.loraAlpha})`,
  ],
  [
    "--reweight <rule>",
    "reweight",
    "objective: none, loss-linear[:r], loss-quadratic[:r], loss-extremes[:r] (per-sequence loss weights, temperature r, default 1), focal[:gamma] (default 2)",
  ],
  [
    "--prune-data <fraction>",
    "pruneData",
    "train only on this fraction of the training windows, the highest-scoring by --data-scores",
  ],
  [
    "--data-scores <file>",
    "dataScores",
    "scores written by rankwise data-scores (for --prune-data)",
  ],
];

/** Add the training flags, except those whose config keys are in `skip` (finetune's own). */
export function addTrainFlags(cmd: Command, skip: (keyof TrainConfig)[] = []): Command {
  cmd.option("--config <file>", "JSON or YAML file of options (flags override it)");
  for (const [flag, key, help] of FLAGS) if (!skip.includes(key)) cmd.option(flag, help);
  cmd.option(
    "--opt <key=value>",
    "optimizer option, repeatable (e.g. --opt b2=0.95 --opt weightDecay=0.1)",
    (value: string, previous: string[] = []) => [...previous, value],
  );
  return cmd;
}

/** Config values from --config and the flags the user actually gave (file < flags). */
export function configFromFlags(opts: Record<string, unknown>): Record<string, unknown> {
  const config: Record<string, unknown> = opts.config ? readConfigFile(String(opts.config)) : {};
  for (const [, key] of FLAGS) {
    if (opts[key] !== undefined) config[key] = opts[key];
  }
  if (opts.opt) {
    const options = { ...((config.optimizerOptions as Record<string, unknown>) ?? {}) };
    for (const pair of opts.opt as string[]) {
      const eq = pair.indexOf("=");
      if (eq <= 0) throw new UsageError(`--opt must look like key=value, got "${pair}"`);
      options[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    config.optimizerOptions = options;
  }
  return config;
}
