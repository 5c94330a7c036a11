/**
 * Optimizer comparison: trains the same model with the same seed and data through the library's
 * `train()` (quiet, no checkpoints or samples) once per optimizer, each in its own process, and
 * records for each
 *   - optimizer-state bytes (`stateBytes`) and their ratio to AdamW's,
 *   - mean training-step time (forward + backward + update, from metrics.jsonl; the first log
 *     interval, which holds the jit compilation, and intervals that hold an evaluation are left
 *     out) and its ratio to AdamW's,
 *   - optimizer-update time alone: `update` + `applyUpdates` on the model's parameters with a
 *     fixed real gradient, waited for (mean of `updateReps`, default 20, after 2 untimed),
 *   - final train loss (mean of the last 5 logged steps) and validation loss,
 *   - loss-vs-step and loss-vs-time series, and peak RSS of the process.
 * Ratios are to "adamw" when it is in the list, else to the first entry.
 *
 * Any optimizer registered in src/train/registry.ts can be named, with options and learning rates:
 *
 *   node --import tsx bench/optimizers.ts                      # the classic set, small model
 *   node --import tsx bench/optimizers.ts --optimizers adamw,galore --option galore.rank=16 \
 *        --lr galore=0.01 --model default --steps 300 --out optimizers-galore
 *   node --import tsx bench/optimizers.ts --spec runs.json      # [{label, optimizer, options, lr}]
 *
 * Writes bench/results/<out>.json (default optimizers.json, committed) and <out>.html (an
 * interactive page of the loss curves, rebuilt by every run and not committed).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { numpy } from "@jax-js/jax";
import {
  childThreads,
  isChild,
  type LoadRecord,
  load1,
  loadProbe,
  log,
  machine,
  mean,
  median,
  peakRssMiB,
  RESULTS_DIR,
  reportToParent,
  round,
  runScript,
  writeResult,
} from "./common.js";
import { startEngine } from "./engine.js";

type JaxArray = numpy.Array;

const CLASSIC = ["adamw", "adam", "sgd", "lion", "adafactor", "rmsprop"];

/** One run of the comparison. */
export interface RunSpec {
  /** Name in tables (default: the optimizer's name). Must be unique. */
  label?: string;
  /** Registered optimizer name. */
  optimizer: string;
  /** Options besides the learning rate (as `rankwise train --opt key=value`). */
  options?: Record<string, unknown>;
  /** Peak learning rate (default: the registry's default for the optimizer). */
  lr?: number;
  /** What the method's paper claims, shown beside the measurement. */
  claim?: string;
  /** Multiply the gradient by `scale` at these steps (a gradient-spike stress test). */
  spikes?: { steps: number[]; scale: number };
  /** Trainer settings besides the optimizer's, e.g. `{ sltrain: 32 }` (SLTrain's model option). */
  config?: Record<string, unknown>;
}

/** Settings shared by every run of one comparison. */
export interface Budget {
  model: string;
  steps: number;
  seed: number;
  batchSize: number;
  seqLen: number;
  evalEvery: number;
  evalBatches: number;
  logEvery: number;
  /** Global-norm clipping of the trainer (0 = off, as for the spike test). */
  clipNorm: number;
  /** Timed `update` calls after 2 untimed (default 20). */
  updateReps?: number;
}

export interface ChildResult {
  label: string;
  optimizer: string;
  options: Record<string, unknown>;
  lr: number;
  threads: number;
  params: number;
  stateBytes: number;
  trainLossLast: number;
  trainLossFinal: number;
  valLoss: number;
  meanStepMs: number;
  medianStepMs: number;
  updateMs: number;
  elapsedS: number;
  compileS: number;
  peakRssMiB: number;
  load: LoadRecord;
  train: { step: number; loss: number; elapsed: number }[];
  eval: { step: number; valLoss: number; elapsed: number }[];
  metrics: Record<string, unknown>[];
}

/** Seconds per step over log intervals that hold neither compilation nor an evaluation. */
function stepTimes(
  rows: { step: number; elapsed: number }[],
  evalEvery: number,
): { mean: number; median: number } {
  const intervals = (skipEvals: boolean) => {
    const perStep: number[] = [];
    for (let i = 1; i < rows.length; i++) {
      const prev = rows[i - 1]!;
      if (skipEvals && evalEvery > 0 && prev.step % evalEvery === 0) continue;
      perStep.push((rows[i]!.elapsed - prev.elapsed) / (rows[i]!.step - prev.step));
    }
    return perStep;
  };
  // When every interval holds an evaluation (evalEvery ≤ logEvery), keep them rather than none.
  const clean = intervals(true);
  const perStep = clean.length > 0 ? clean : intervals(false);
  return { mean: mean(perStep), median: median(perStep) };
}

async function child(spec: RunSpec, budget: Budget): Promise<void> {
  const finishLoad = loadProbe();
  const { jax } = await startEngine();
  const { tree } = await import("../src/index.js");
  const { train, buildOptimizer, peakLearningRate } = await import("../src/train/trainer.js");
  const { validateConfig } = await import("../src/train/config.js");
  const { runModelConfig } = await import("../src/train/run-open.js");
  const { readMetrics } = await import("../src/train/metrics.js");
  const { withLoss } = await import("../src/optim/loss-context.js");
  const { loadCorpus } = await import("../src/data/corpus.js");
  const { buildTokenizer } = await import("../src/data/tokenizer.js");
  const { BatchSampler } = await import("../src/data/sampler.js");
  const nn = await import("../src/nn/index.js");

  const config = validateConfig({
    model: budget.model,
    optimizer: spec.optimizer,
    optimizerOptions: spec.options ?? {},
    ...(spec.lr === undefined ? {} : { lr: spec.lr }),
    steps: budget.steps,
    seed: budget.seed,
    batchSize: budget.batchSize,
    seqLen: budget.seqLen,
    evalEvery: budget.evalEvery,
    evalBatches: budget.evalBatches,
    logEvery: budget.logEvery,
    checkpointEvery: 0,
    sampleLength: 0,
    clipNorm: budget.clipNorm,
    ...spec.config,
  });
  const spikeSteps = new Set(spec.spikes?.steps ?? []);
  const gradientHook = spec.spikes
    ? (grads: Record<string, JaxArray>, step: number) =>
        spikeSteps.has(step)
          ? (tree.map((g: JaxArray) => g.mul(spec.spikes!.scale), grads) as typeof grads)
          : grads
    : undefined;
  const label = spec.label ?? spec.optimizer;
  const out = mkdtempSync(join(tmpdir(), "rankwise-bench-opt-"));
  let result: Awaited<ReturnType<typeof train>>;
  let rows: Record<string, any>[];
  try {
    result = await train({ config, out, quiet: true, name: label, gradientHook });
    rows = readMetrics(join(out, "metrics.jsonl")) as Record<string, any>[];
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  const trainRows = rows
    .filter((r) => r.type === "train")
    .map((r) => ({ step: r.step as number, loss: r.loss as number, elapsed: r.elapsed as number }));
  const evalRows = rows
    .filter((r) => r.type === "eval")
    .map((r) => ({
      step: r.step as number,
      valLoss: r.valLoss as number,
      elapsed: r.elapsed as number,
    }));
  const steps = stepTimes(trainRows, budget.evalEvery);

  // The optimizer update alone, on the model's parameters with one real gradient.
  const text = loadCorpus(config.data).text;
  const tokenizer = buildTokenizer(config.tokenizer, text);
  // The model train() built, SLTrain's parameters included where the run has them.
  const modelConfig = runModelConfig(config, tokenizer.vocabSize);
  const dense = nn.initLlama(modelConfig, config.seed);
  let params = modelConfig.rankwise_sltrain ? nn.withSltrain(dense, modelConfig) : dense;
  const lossAndGrad = nn.makeLossAndGrad(modelConfig);
  const batch = new BatchSampler(tokenizer.encode(text), {
    batchSize: config.batchSize,
    seqLen: config.seqLen,
    seed: config.seed,
  }).next();
  const [loss, grads] = lossAndGrad(tree.share(params), batch.inputs, batch.targets);
  // Loss-reading optimizers (SANIA) take the step's loss from the context, as in the trainer.
  const lossValue = (await loss.data())[0]!;
  lossAndGrad.dispose();
  const opt = buildOptimizer(config);
  let state = opt.init(tree.share(params));
  const updateTimes: number[] = [];
  for (let i = 0; i < 2 + (budget.updateReps ?? 20); i++) {
    await jax.blockUntilReady([params, grads, tree.leaves(state).filter(tree.isArray)]);
    const start = performance.now();
    const [updates, next] = withLoss(lossValue, () =>
      opt.update(tree.share(grads), state, tree.share(params)),
    );
    state = next;
    params = tree.map((p: any, u: any) => p.add(u), params, updates) as typeof params;
    await jax.blockUntilReady([params, tree.leaves(state).filter(tree.isArray)]);
    if (i >= 2) updateTimes.push(performance.now() - start);
  }
  const params0 = tree.size(params);
  tree.dispose(params);
  tree.dispose(grads);
  tree.dispose(state);

  const lastLosses = trainRows.slice(-5).map((r) => r.loss);
  reportToParent({
    label,
    optimizer: config.optimizer,
    options: config.optimizerOptions,
    lr: peakLearningRate(config),
    threads: childThreads(),
    params: params0,
    stateBytes: result.stateBytes,
    trainLossLast: result.trainLoss,
    trainLossFinal: mean(lastLosses),
    valLoss: result.valLoss,
    meanStepMs: steps.mean * 1000,
    medianStepMs: steps.median * 1000,
    updateMs: mean(updateTimes),
    elapsedS: result.elapsed,
    compileS: trainRows[0]?.elapsed ?? Number.NaN,
    peakRssMiB: peakRssMiB(),
    load: finishLoad(),
    train: trainRows,
    eval: evalRows,
    metrics: rows,
  } satisfies ChildResult);
}

/** Parse `--option name.key=value` flags into per-optimizer option records. */
function parseOptionFlags(flags: string[]): Map<string, Record<string, unknown>> {
  const byName = new Map<string, Record<string, unknown>>();
  for (const flag of flags) {
    const m = /^([\w-]+)\.(\w+)=(.*)$/.exec(flag);
    if (!m) throw new RangeError(`--option must look like name.key=value, got "${flag}"`);
    const record = byName.get(m[1]!) ?? {};
    record[m[2]!] = m[3]!;
    byName.set(m[1]!, record);
  }
  return byName;
}

function parseLrFlags(flags: string[]): Map<string, number> {
  const byName = new Map<string, number>();
  for (const flag of flags) {
    const m = /^([\w-]+)=(.*)$/.exec(flag);
    const lr = m ? Number(m[2]) : Number.NaN;
    if (!m || !(lr > 0)) throw new RangeError(`--lr must look like name=0.001, got "${flag}"`);
    byName.set(m[1]!, lr);
  }
  return byName;
}

async function compareOptimizers(
  specs: RunSpec[],
  budget: Budget,
  opts: { threads: number; out: string; command: string },
): Promise<void> {
  const labels = specs.map((s) => s.label ?? s.optimizer);
  if (new Set(labels).size !== labels.length) {
    throw new RangeError(`run labels must be unique, got ${labels.join(", ")}`);
  }
  const start = load1();
  const runs: ChildResult[] = [];
  for (const [i, spec] of specs.entries()) {
    log(`optimizers: ${i + 1}/${specs.length} ${labels[i]} (${budget.steps} steps)`);
    runs.push(
      await runScript<ChildResult>("bench/optimizers.ts", opts.threads, [], {
        BENCH_SPEC: JSON.stringify({ spec, budget }),
      }),
    );
  }
  const baseline = runs.find((r) => r.optimizer === "adamw" && r.label === "adamw") ?? runs[0]!;
  const table = runs.map((r, i) => ({
    label: r.label,
    claim: specs[i]!.claim ?? null,
    spikes: specs[i]!.spikes ?? null,
    optimizer: r.optimizer,
    options: r.options,
    lr: r.lr,
    stateBytes: r.stateBytes,
    stateRatio: round(r.stateBytes / baseline.stateBytes, 3),
    stateBytesPerParam: round(r.stateBytes / r.params, 2),
    meanStepMs: round(r.meanStepMs, 1),
    stepRatio: round(r.meanStepMs / baseline.meanStepMs, 2),
    updateMs: round(r.updateMs, 2),
    updateRatio: round(r.updateMs / baseline.updateMs, 2),
    trainLoss: round(r.trainLossFinal, 4),
    valLoss: round(r.valLoss, 4),
    elapsedS: round(r.elapsedS, 1),
    peakRssMiB: round(r.peakRssMiB, 0),
    load: r.load,
  }));
  writeResult(opts.out, {
    benchmark: "optimizers",
    command: opts.command,
    date: new Date().toISOString(),
    machine: machine(),
    load: { start, end: load1() },
    threads: opts.threads,
    budget,
    params: runs[0]!.params,
    baseline: baseline.label,
    table,
    series: runs.map((r) => ({ label: r.label, train: r.train, eval: r.eval })),
  });
  const { writeReport } = await import("../src/report/index.js");
  const html = join(RESULTS_DIR, `${opts.out}.html`);
  await writeReport(
    html,
    runs.map((r) => ({
      name: r.label,
      config: { optimizer: r.optimizer, ...r.options, lr: r.lr, ...budget },
      metrics: r.metrics as any,
    })),
    { title: `Rankwise optimizer comparison (${budget.model}, ${budget.steps} steps)` },
  );
  log(`wrote ${html}`);
}

async function main(): Promise<void> {
  if (isChild()) {
    const { spec, budget } = JSON.parse(process.env.BENCH_SPEC!) as {
      spec: RunSpec;
      budget: Budget;
    };
    return child(spec, budget);
  }
  const { values } = parseArgs({
    options: {
      optimizers: { type: "string", default: CLASSIC.join(",") },
      spec: { type: "string" },
      option: { type: "string", multiple: true, default: [] },
      lr: { type: "string", multiple: true, default: [] },
      model: { type: "string", default: "small" },
      steps: { type: "string", default: "150" },
      seed: { type: "string", default: "0" },
      batch: { type: "string", default: "16" },
      "seq-len": { type: "string", default: "64" },
      "eval-every": { type: "string", default: "50" },
      "eval-batches": { type: "string", default: "8" },
      "log-every": { type: "string", default: "10" },
      "clip-norm": { type: "string", default: "1" },
      threads: { type: "string", default: "1" },
      out: { type: "string", default: "optimizers" },
    },
  });
  let specs: RunSpec[];
  if (values.spec) {
    specs = JSON.parse(readFileSync(values.spec, "utf8")) as RunSpec[];
    if (!Array.isArray(specs) || specs.some((x) => typeof x?.optimizer !== "string")) {
      throw new TypeError(
        `--spec ${values.spec} must hold an array of {optimizer, label?, options?, lr?}`,
      );
    }
  } else {
    const options = parseOptionFlags(values.option!);
    const lrs = parseLrFlags(values.lr!);
    specs = values
      .optimizers!.split(",")
      .filter(Boolean)
      .map((name) => ({
        optimizer: name,
        ...(options.has(name) ? { options: options.get(name) } : {}),
        ...(lrs.has(name) ? { lr: lrs.get(name) } : {}),
      }));
  }
  const budget: Budget = {
    model: values.model!,
    steps: Number(values.steps),
    seed: Number(values.seed),
    batchSize: Number(values.batch),
    seqLen: Number(values["seq-len"]),
    evalEvery: Number(values["eval-every"]),
    evalBatches: Number(values["eval-batches"]),
    logEvery: Number(values["log-every"]),
    clipNorm: Number(values["clip-norm"]),
  };
  const command = ["node --import tsx bench/optimizers.ts", ...process.argv.slice(2)].join(" ");
  await compareOptimizers(specs, budget, {
    threads: Number(values.threads),
    out: values.out!,
    command,
  });
}

await main();
