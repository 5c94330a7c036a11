/**
 * Runs of the CLI for the benchmarks that train and compare models (finetune.ts, merge.ts):
 *   - `cli(argv)` / `cliMany(argvs)`: the CLI's own code (src/cli/main.ts, from source so that a
 *     stale dist/ cannot matter) in a child process, stdout captured, with its wall time, load
 *     and peak RSS;
 *   - `fullFineTune(...)`: full fine-tuning, which has no CLI command (`finetune` trains adapters
 *     only, `train` starts from a fresh model): the child opens the pretrained run and drives the
 *     trainer's own loop (src/train/trainer.ts `loop`, `finishRun`) on all parameters — the same
 *     step, logging, evaluation and checkpoint code as `train` and `finetune`;
 *   - `pretrain(budget)`: `rankwise train` on Moby Dick with the byte tokenizer, cached under
 *     bench/.cache/pretrain/<model>-<steps>-<hash of the budget>/ (gitignored) so that the
 *     benchmarks reuse one pretraining run; delete the folder to retrain;
 *   - the budgets (smoke, quick, full) and the metrics.jsonl helpers.
 *
 * The byte tokenizer replaces `train`'s default character one: a character vocabulary built from
 * Moby Dick lacks characters other corpora use (’, “, %, /, …); bytes cover every text.
 *
 * This file is both a module (parents import it; it loads no jax-js) and the children's script:
 * run as `bench/cli-runs.ts` with BENCH_CLI or BENCH_FULL set, it plays that child.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import {
  BENCH_DIR,
  isChild,
  type LoadRecord,
  loadProbe,
  log,
  mean,
  median,
  peakRssMiB,
  reportToParent,
  round,
  runScript,
} from "./common.js";

const SCRIPT = "bench/cli-runs.ts";

/** Settings shared by the pretraining and fine-tuning runs of a benchmark. */
export interface Budget {
  model: string;
  pretrainSteps: number;
  steps: number;
  seed: number;
  batchSize: number;
  seqLen: number;
  warmup: number;
  evalEvery: number;
  evalBatches: number;
  logEvery: number;
  pretrainLr: number;
}

/** The default preset at train's default 600 steps, then 300 fine-tuning steps. */
export const FULL_BUDGET: Budget = {
  model: "default",
  pretrainSteps: 600,
  steps: 300,
  seed: 0,
  batchSize: 16,
  seqLen: 64,
  warmup: 20,
  evalEvery: 50,
  evalBatches: 32,
  logEvery: 10,
  pretrainLr: 3e-3,
};

/** The small preset, fewer steps (minutes on two cores). */
export const QUICK_BUDGET: Budget = {
  ...FULL_BUDGET,
  model: "small",
  pretrainSteps: 300,
  steps: 100,
  evalEvery: 25,
  evalBatches: 16,
};

/** A few steps of the tiny preset: checks the pipeline, not a measurement (not committed). */
export const SMOKE_BUDGET: Budget = {
  model: "tiny",
  pretrainSteps: 30,
  steps: 20,
  seed: 0,
  batchSize: 4,
  seqLen: 32,
  warmup: 5,
  evalEvery: 10,
  evalBatches: 2,
  logEvery: 5,
  pretrainLr: 3e-3,
};

/** What a CLI child reports: per command its exit code, stdout and wall time; load and memory. */
export interface CliResult {
  code: number;
  stdout: string;
  /** Wall time of the command itself (ms), without the process's start-up. */
  ms: number;
  load: LoadRecord;
  /** Peak RSS of the whole child process (MiB). */
  peakRssMiB: number;
  /** RSS once the CLI's modules are loaded, before the command runs (MiB). */
  rssBeforeMiB: number;
}

type CliBatch = Omit<CliResult, "code" | "stdout" | "ms"> & {
  runs: { code: number; stdout: string; ms: number }[];
};

// ---------------------------------------------------------------------------------------------
// Children

/** Child: run the CLI on each argv in turn (one process), capturing stdout. */
async function cliChild(argvs: string[][]): Promise<void> {
  const probe = loadProbe();
  await import("../src/engine/node-threads.js"); // before anything loads jax-js
  const { main } = await import("../src/cli/main.js");
  let stdout = "";
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    stdout += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
  const rssBeforeMiB = process.memoryUsage().rss / 2 ** 20;
  const runs: CliBatch["runs"] = [];
  for (const argv of argvs) {
    stdout = "";
    const start = performance.now();
    const code = await main(["node", "rankwise", ...argv]);
    runs.push({ code, stdout, ms: performance.now() - start });
    if (code !== 0) break;
  }
  reportToParent({
    runs,
    load: probe(),
    peakRssMiB: peakRssMiB(),
    rssBeforeMiB,
  } satisfies CliBatch);
}

interface FullOptions {
  base: string;
  out: string;
  data: string;
  budget: Budget;
  lr: number;
}

/** Child: full fine-tuning of the run in `base` on `data` with the trainer's loop. */
async function fullChild(o: FullOptions): Promise<void> {
  const probe = loadProbe();
  const { startEngine } = await import("./engine.js");
  await startEngine();
  const { jit } = await import("@jax-js/jax");
  const tree = await import("../src/engine/tree.js");
  const { openModel } = await import("../src/nn/open-model.js");
  const { llamaLoss, makeLossAndGrad } = await import("../src/nn/llama.js");
  const { validateConfig } = await import("../src/train/config.js");
  const { loadData, evaluate } = await import("../src/train/run-data.js");
  const { buildOptimizer, peakLearningRate } = await import("../src/train/optimizer.js");
  const { BatchSampler } = await import("../src/data/sampler.js");
  const { GradientSpikeMonitor } = await import("../src/train/monitors/spike-monitor.js");
  const { MetricsLog } = await import("../src/train/metrics.js");
  const { Progress } = await import("../src/train/progress.js");
  const { ensureOutputDir } = await import("../src/io/output-dir.js");
  const { acquireLock } = await import("../src/io/lock.js");
  const { learningRateSchedule } = await import("../src/train/lr.js");
  const { announceRun } = await import("../src/train/run-announce.js");
  const { loop } = await import("../src/train/trainer.js");
  const { finishRun } = await import("../src/train/run-finish.js");
  const { closeRun } = await import("../src/train/run-open.js");
  type Run = import("../src/train/run.js").Run;
  type LlamaParams = import("../src/nn/llama.js").LlamaParams;
  type JaxArray = import("@jax-js/jax").numpy.Array;

  const b = o.budget;
  const opened = await openModel(o.base);
  const config = validateConfig({
    model: b.model,
    data: o.data,
    tokenizer: "byte",
    optimizer: "adamw",
    lr: o.lr,
    warmup: b.warmup,
    steps: b.steps,
    seed: b.seed,
    batchSize: b.batchSize,
    seqLen: b.seqLen,
    evalEvery: b.evalEvery,
    evalBatches: b.evalBatches,
    logEvery: b.logEvery,
    checkpointEvery: 0,
    sampleLength: 0,
  });
  const data = loadData(config, opened.tokenizer.toJSON());
  const modelConfig = opened.config;
  const lossOnly = jit((p: LlamaParams, x: JaxArray, y: JaxArray) =>
    llamaLoss(p, x, y, modelConfig),
  );
  const baseLoss = await evaluate(lossOnly, opened.params, data, config);
  const opt = buildOptimizer(config);
  ensureOutputDir(o.out);
  const progress = new Progress(process.stderr, true);
  const lock = acquireLock(o.out, o.out, (line) => progress.warn(line));
  const start = performance.now();
  const seconds = () => (performance.now() - start) / 1000;
  const run: Run = {
    config,
    modelConfig,
    data,
    opt,
    params: opened.params,
    optState: opt.init(tree.share(opened.params)),
    sampler: new BatchSampler(data.train, {
      batchSize: config.batchSize,
      seqLen: config.seqLen,
      seed: config.seed,
    }),
    spikes: new GradientSpikeMonitor(),
    step: 0,
    skippedSteps: 0,
    badSteps: 0,
    elapsedBefore: 0,
    out: o.out,
    name: "full fine-tuning",
    metrics: new MetricsLog(join(o.out, "metrics.jsonl")),
    progress,
    lossAndGrad: makeLossAndGrad(modelConfig),
    lossOnly,
    schedule: learningRateSchedule(config, peakLearningRate(config)),
    tokensPerStep: config.batchSize * config.seqLen * config.accumulate,
    startStep: 0,
    lock,
    seconds,
    lastLog: { step: 0, time: 0 },
    trainLoss: Number.NaN,
    valLoss: Number.NaN,
  };
  announceRun(run, true);
  // The base's loss as an eval row at step 0, as a fine-tuning run writes it.
  run.metrics.append({ type: "eval", step: 0, elapsed: 0, valLoss: baseLoss, base: true });
  const t0 = performance.now();
  try {
    await loop(run, { config, out: o.out, quiet: true });
    await finishRun(run, false);
  } finally {
    closeRun(run);
  }
  reportToParent({
    code: 0,
    stdout: "",
    ms: performance.now() - t0,
    load: probe(),
    peakRssMiB: peakRssMiB(),
    rssBeforeMiB: Number.NaN,
  } satisfies CliResult);
}

// ---------------------------------------------------------------------------------------------
// Parent helpers

/** Run the CLI commands in one child process, in turn; rejects if one fails. */
export async function cliMany(argvs: string[][]): Promise<CliResult[]> {
  const batch = await runScript<CliBatch>(SCRIPT, 1, [], { BENCH_CLI: JSON.stringify(argvs) });
  const failed = batch.runs.find((r) => r.code !== 0);
  if (failed || batch.runs.length !== argvs.length) {
    throw new Error(
      `rankwise ${argvs[batch.runs.length - 1]!.join(" ")} exited with ${failed?.code}`,
    );
  }
  return batch.runs.map((r) => ({ ...batch, ...r }));
}

/** Run one CLI command in a child process. */
export const cli = async (argv: string[]): Promise<CliResult> => (await cliMany([argv]))[0]!;

/** Full fine-tuning of the run `base` on `data` into `out` (see the file header). */
export const fullFineTune = (o: FullOptions): Promise<CliResult> =>
  runScript<CliResult>(SCRIPT, 1, [], { BENCH_FULL: JSON.stringify(o) });

export type Row = Record<string, any>;

/** The rows of a run's metrics.jsonl. */
export const readRows = (run: string): Row[] =>
  readFileSync(join(run, "metrics.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Row);

/** Mean and median ms per step over log intervals that hold neither compilation nor an eval. */
export function stepMs(rows: Row[], evalEvery: number): { mean: number; median: number } {
  const train = rows.filter((r) => r.type === "train");
  const perStep: number[] = [];
  for (let i = 1; i < train.length; i++) {
    const prev = train[i - 1]!;
    if (evalEvery > 0 && prev.step % evalEvery === 0) continue;
    perStep.push((1000 * (train[i]!.elapsed - prev.elapsed)) / (train[i]!.step - prev.step));
  }
  return { mean: mean(perStep), median: median(perStep) };
}

/** `rankwise eval <model> --data <corpus> --json` argv with the benchmark's windows. */
export const evalArgs = (model: string, data: string, b: Budget): string[] => [
  "eval",
  model,
  "--data",
  data,
  "--seq-len",
  String(b.seqLen),
  "--batch-size",
  String(b.batchSize),
  "--eval-batches",
  String(b.evalBatches),
  "--json",
];

/** `rankwise eval` of one model on one corpus; its JSON plus the child's load. */
export async function evalRun(model: string, data: string, b: Budget): Promise<Row> {
  const r = await cli(evalArgs(model, data, b));
  return { ...(JSON.parse(r.stdout) as Row), load: r.load };
}

/** Flags `train` and `finetune` share; `settings` is a JSON file (they have no --eval-batches). */
export function runFlags(b: Budget, settings: string): string[] {
  writeFileSync(settings, JSON.stringify({ evalBatches: b.evalBatches }));
  return [
    "--seed",
    String(b.seed),
    "--batch-size",
    String(b.batchSize),
    "--seq-len",
    String(b.seqLen),
    "--eval-every",
    String(b.evalEvery),
    "--config",
    settings,
    "--log-every",
    String(b.logEvery),
    "--warmup",
    String(b.warmup),
    "--checkpoint-every",
    "0",
    "--sample-length",
    "0",
    "--quiet",
  ];
}

/** A pretraining run: its folder and the child's record (possibly from the cache). */
export interface Pretrained {
  run: string;
  result: CliResult;
  cached: boolean;
}

export const PRETRAIN_CACHE = join(BENCH_DIR, ".cache", "pretrain");

/**
 * `rankwise train` on Moby Dick (byte tokenizer, AdamW) with the budget's pretraining settings,
 * or the cached run with the same settings. A cache entry is complete once bench-pretrain.json
 * is written (last); an incomplete one is removed and retrained.
 */
export async function pretrain(b: Budget): Promise<Pretrained> {
  const settings = {
    model: b.model,
    steps: b.pretrainSteps,
    lr: b.pretrainLr,
    seed: b.seed,
    batchSize: b.batchSize,
    seqLen: b.seqLen,
    warmup: b.warmup,
    evalEvery: b.evalEvery,
    evalBatches: b.evalBatches,
    logEvery: b.logEvery,
    data: "moby-dick",
    tokenizer: "byte",
  };
  const hash = createHash("sha256").update(JSON.stringify(settings)).digest("hex").slice(0, 10);
  const dir = join(PRETRAIN_CACHE, `${b.model}-${b.pretrainSteps}-${hash}`);
  const record = join(dir, "bench-pretrain.json");
  const run = join(dir, "run");
  if (existsSync(record)) {
    log(`pretraining: reusing ${dir}`);
    return { run, result: JSON.parse(readFileSync(record, "utf8")) as CliResult, cached: true };
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  log(`pretraining ${b.model} on moby-dick, ${b.pretrainSteps} steps (cached in ${dir})`);
  const result = await cli([
    "train",
    "--model",
    b.model,
    "--data",
    "moby-dick",
    "--tokenizer",
    "byte",
    "--optimizer",
    "adamw",
    "--lr",
    String(b.pretrainLr),
    "--steps",
    String(b.pretrainSteps),
    ...runFlags(b, join(dir, "settings.json")),
    "--out",
    run,
  ]);
  writeFileSync(record, `${JSON.stringify({ ...result, settings }, null, 2)}\n`);
  return { run, result, cached: false };
}

/** What a pretraining run measured: size, speed and its losses on Moby Dick and SOTU. */
export async function pretrainSummary(p: Pretrained, b: Budget): Promise<Row> {
  const rows = readRows(p.run);
  const start = rows.find((r) => r.type === "start")!;
  const moby = await evalRun(p.run, "moby-dick", b);
  const sotu = await evalRun(p.run, "sotu", b);
  return {
    steps: b.pretrainSteps,
    params: start.parameters as number,
    vocab: start.vocabSize as number,
    lr: b.pretrainLr,
    stepMs: round(stepMs(rows, b.evalEvery).mean, 1),
    elapsedS: round(rows.filter((r) => r.type === "train").at(-1)!.elapsed, 1),
    mobyValLoss: round(moby.loss, 4),
    sotuValLoss: round(sotu.loss, 4),
    evalTokens: { moby: moby.tokens, sotu: sotu.tokens },
    eval: rows.filter((r) => r.type === "eval").map((r) => ({ step: r.step, valLoss: r.valLoss })),
    cached: p.cached,
    load: p.result.load,
    peakRssMiB: round(p.result.peakRssMiB, 0),
  };
}

// ---------------------------------------------------------------------------------------------
// Child entry

const isMain = (): boolean =>
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;

if (isChild() && isMain()) {
  if (process.env.BENCH_CLI) await cliChild(JSON.parse(process.env.BENCH_CLI) as string[][]);
  else if (process.env.BENCH_FULL) await fullChild(JSON.parse(process.env.BENCH_FULL));
}
