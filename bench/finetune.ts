/**
 * Fine-tuning benchmark (issue 10): pretrain a model on Moby Dick with `rankwise train`, then
 * fine-tune it on the State of the Union corpus with full fine-tuning and with the LoRA family
 * (LoRA r=8, rsLoRA, DoRA, PiSSA, OLoRA) — same steps, seed, data order, batch and optimizer
 * (AdamW) — and record per method
 *   - trainable parameters and optimizer-state bytes (the run's metrics rows),
 *   - step time: mean wall time per step from metrics.jsonl, leaving out the first log interval
 *     (jit compilation) and intervals that hold an evaluation,
 *   - SOTU validation loss before (the base, step-0 eval row) and after (the run's last eval),
 *   - Moby Dick validation loss after (forgetting): `rankwise eval <run> --data moby-dick --json`
 *     on the adapted model (a fine-tuning run opens as base + adapter),
 *   - loss curves, and the claim of each method's paper beside the measurement.
 *
 *   npm run bench -- finetune            # default preset, 600 pretraining steps (train's defaults)
 *   npm run bench -- finetune --quick    # small preset, fewer steps (minutes on two cores)
 *
 * Every adapter run and every evaluation goes through the CLI's own code (src/cli/main.ts, run
 * from source in a child process so that a stale dist/ cannot matter). Full fine-tuning has no
 * CLI command (`finetune` trains adapters only, `train` starts from a fresh model), so its child
 * opens the pretrained run and drives the trainer's own loop (src/train/trainer.ts `loop`,
 * `finishRun`) on all parameters: the same step, logging, evaluation and checkpoint code as the
 * adapter runs.
 *
 * Deviation from `rankwise train`'s defaults: the byte tokenizer. A character vocabulary built
 * from Moby Dick lacks characters SOTU uses (’, “, %, /, …), so a char model cannot read SOTU;
 * bytes cover both. Writes bench/results/finetune.json (finetune-quick.json with --quick).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  isChild,
  type LoadRecord,
  load1,
  loadProbe,
  log,
  machine,
  mean,
  median,
  peakRssMiB,
  reportToParent,
  round,
  runScript,
  writeResult,
} from "./common.js";

/** One fine-tuning method of the comparison. */
interface Method {
  label: string;
  /** `rankwise finetune` flags; undefined = full fine-tuning. */
  flags?: string[];
  lr: number;
  /** Where the learning rate comes from. */
  lrSource: string;
  paper: string;
  claim: string;
}

/** Settings shared by every run. */
interface Budget {
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

/**
 * Learning rates. Pretraining uses AdamW's registry default (3e-3). Full fine-tuning takes a
 * tenth of it; LoRA takes about ten times full fine-tuning's rate (Hu et al. 2021 train LoRA at
 * rates well above full fine-tuning's; Biderman et al. 2024 find LoRA's best rate about an
 * order of magnitude above full fine-tuning's). rsLoRA, DoRA, PiSSA and OLoRA each compare
 * against LoRA at LoRA's hyper-parameters in their papers, so they share LoRA's rate here.
 * Adapters: rank 8, alpha 8 (PEFT's defaults), on q_proj and v_proj (PEFT's LLaMA default and
 * the LoRA paper's Wq, Wv).
 */
const ADAPTER_LR = 3e-3;
const FULL_LR = 3e-4;

const METHODS: Method[] = [
  {
    label: "full fine-tuning",
    lr: FULL_LR,
    lrSource: "a tenth of pretraining's 3e-3",
    paper: "baseline",
    claim: "Every weight trains: the reference the adapters are measured against.",
  },
  {
    label: "LoRA r=8",
    flags: ["--adapter", "lora", "--rank", "8", "--alpha", "8"],
    lr: ADAPTER_LR,
    lrSource: "about 10× full fine-tuning's",
    paper: "Hu et al. 2021",
    claim:
      "A rank-r update of frozen weights matches full fine-tuning's quality with far fewer trainable parameters and far less optimizer memory.",
  },
  {
    label: "rsLoRA r=8",
    flags: ["--adapter", "lora", "--rank", "8", "--alpha", "8", "--rslora"],
    lr: ADAPTER_LR,
    lrSource: "LoRA's",
    paper: "Kalajdzievski 2023",
    claim:
      "Scaling by α/√r instead of α/r keeps learning stable as the rank grows, so higher ranks keep improving; at r=8 only the scale differs (2.83 vs 1).",
  },
  {
    label: "DoRA r=8",
    flags: ["--adapter", "dora", "--rank", "8", "--alpha", "8"],
    lr: ADAPTER_LR,
    lrSource: "LoRA's",
    paper: "Liu et al. 2024",
    claim:
      "Training magnitude and direction separately brings LoRA's results closer to full fine-tuning at no inference cost, for a few more parameters and a slower step.",
  },
  {
    label: "PiSSA r=8",
    flags: ["--adapter", "pissa", "--rank", "8", "--alpha", "8"],
    lr: ADAPTER_LR,
    lrSource: "LoRA's",
    paper: "Meng et al. 2024",
    claim:
      "Starting the adapter from the weight's principal singular vectors (residual frozen) converges faster than LoRA and ends lower.",
  },
  {
    label: "OLoRA r=8",
    flags: ["--adapter", "olora", "--rank", "8", "--alpha", "8"],
    lr: ADAPTER_LR,
    lrSource: "LoRA's",
    paper: "Büyükakyüz 2024",
    claim:
      "Starting the adapter from a QR (orthonormal) factor of the weight converges faster than LoRA.",
  },
];

// ---------------------------------------------------------------------------------------------
// Children

/** What a CLI child reports: its exit code, captured stdout, load and memory. */
interface CliResult {
  code: number;
  stdout: string;
  load: LoadRecord;
  peakRssMiB: number;
}

/** Child: run the CLI (from source) on BENCH_CLI's argv, capturing stdout. */
async function cliChild(argv: string[]): Promise<void> {
  const probe = loadProbe();
  await import("../src/engine/node-threads.js"); // before anything loads jax-js
  const { main } = await import("../src/cli/main.js");
  let stdout = "";
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    stdout += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
  const code = await main(["node", "rankwise", ...argv]);
  reportToParent({ code, stdout, load: probe(), peakRssMiB: peakRssMiB() } satisfies CliResult);
  process.exitCode = code;
}

/** Child: full fine-tuning of the run in `base` on SOTU with the trainer's loop. */
async function fullChild(o: { base: string; out: string; budget: Budget; lr: number }) {
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
    data: "sotu",
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
  try {
    await loop(run, { config, out: o.out, quiet: true });
    await finishRun(run, false);
  } finally {
    closeRun(run);
  }
  reportToParent({
    code: 0,
    stdout: "",
    load: probe(),
    peakRssMiB: peakRssMiB(),
  } satisfies CliResult);
}

// ---------------------------------------------------------------------------------------------
// Parent

const cli = (argv: string[]) =>
  runScript<CliResult>("bench/finetune.ts", 1, [], { BENCH_CLI: JSON.stringify(argv) });

type Row = Record<string, any>;

const readRows = (run: string): Row[] =>
  readFileSync(join(run, "metrics.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Row);

/** Mean and median ms per step over log intervals that hold neither compilation nor an eval. */
function stepMs(rows: Row[], evalEvery: number): { mean: number; median: number } {
  const train = rows.filter((r) => r.type === "train");
  const perStep: number[] = [];
  for (let i = 1; i < train.length; i++) {
    const prev = train[i - 1]!;
    if (evalEvery > 0 && prev.step % evalEvery === 0) continue;
    perStep.push((1000 * (train[i]!.elapsed - prev.elapsed)) / (train[i]!.step - prev.step));
  }
  return { mean: mean(perStep), median: median(perStep) };
}

/** `rankwise eval <run> --data <corpus> --json` with the benchmark's windows. */
async function evalRun(run: string, data: string, b: Budget): Promise<Row> {
  const r = await cli([
    "eval",
    run,
    "--data",
    data,
    "--seq-len",
    String(b.seqLen),
    "--batch-size",
    String(b.batchSize),
    "--eval-batches",
    String(b.evalBatches),
    "--json",
  ]);
  return { ...(JSON.parse(r.stdout) as Row), load: r.load };
}

/** A few steps of the tiny preset: checks the pipeline, not a measurement (not committed). */
const SMOKE: Budget = {
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

async function parent(quick: boolean, keep: boolean, smoke: boolean): Promise<void> {
  const budget: Budget = smoke
    ? SMOKE
    : quick
      ? {
          model: "small",
          pretrainSteps: 300,
          steps: 100,
          seed: 0,
          batchSize: 16,
          seqLen: 64,
          warmup: 20,
          evalEvery: 25,
          evalBatches: 16,
          logEvery: 10,
          pretrainLr: 3e-3,
        }
      : {
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
  const loadStart = load1();
  const started = performance.now();
  const work = mkdtempSync(join(tmpdir(), "rankwise-bench-finetune-"));
  const settings = join(work, "settings.json");
  writeFileSync(settings, JSON.stringify({ evalBatches: budget.evalBatches }));
  const common = [
    "--seed",
    String(budget.seed),
    "--batch-size",
    String(budget.batchSize),
    "--seq-len",
    String(budget.seqLen),
    "--eval-every",
    String(budget.evalEvery),
    "--config",
    settings, // train and finetune have no --eval-batches flag
    "--log-every",
    String(budget.logEvery),
    "--warmup",
    String(budget.warmup),
    "--checkpoint-every",
    "0",
    "--sample-length",
    "0",
    "--quiet",
  ];
  try {
    const base = join(work, "base");
    log(`finetune: pretraining ${budget.model} on moby-dick, ${budget.pretrainSteps} steps`);
    const pre = await cli([
      "train",
      "--model",
      budget.model,
      "--data",
      "moby-dick",
      "--tokenizer",
      "byte",
      "--optimizer",
      "adamw",
      "--lr",
      String(budget.pretrainLr),
      "--steps",
      String(budget.pretrainSteps),
      ...common,
      "--out",
      base,
    ]);
    const preRows = readRows(base);
    const preStart = preRows.find((r) => r.type === "start")!;
    const preEval = preRows.filter((r) => r.type === "eval");
    const baseMoby = await evalRun(base, "moby-dick", budget);
    const baseSotu = await evalRun(base, "sotu", budget);
    const pretrain = {
      steps: budget.pretrainSteps,
      params: preStart.parameters as number,
      vocab: preStart.vocabSize as number,
      lr: budget.pretrainLr,
      stepMs: round(stepMs(preRows, budget.evalEvery).mean, 1),
      elapsedS: round(preRows.filter((r) => r.type === "train").at(-1)!.elapsed, 1),
      mobyValLoss: round(baseMoby.loss, 4),
      sotuValLoss: round(baseSotu.loss, 4),
      evalTokens: { moby: baseMoby.tokens, sotu: baseSotu.tokens },
      eval: preEval.map((r) => ({ step: r.step, valLoss: r.valLoss })),
      load: pre.load,
      peakRssMiB: round(pre.peakRssMiB, 0),
    };
    log(`finetune: base moby ${pretrain.mobyValLoss}, sotu ${pretrain.sotuValLoss}`);

    const table: Row[] = [];
    const series: Row[] = [];
    for (const [i, m] of METHODS.entries()) {
      const out = join(work, `ft-${i}`);
      log(`finetune: ${i + 1}/${METHODS.length} ${m.label} (${budget.steps} steps)`);
      const r = m.flags
        ? await cli([
            "finetune",
            "--model",
            base,
            "--data",
            "sotu",
            ...m.flags,
            "--optimizer",
            "adamw",
            "--lr",
            String(m.lr),
            "--steps",
            String(budget.steps),
            ...common,
            "--out",
            out,
          ])
        : await runScript<CliResult>("bench/finetune.ts", 1, [], {
            BENCH_FULL: JSON.stringify({ base, out, budget, lr: m.lr }),
          });
      const rows = readRows(out);
      const start = rows.find((x) => x.type === "start")!;
      const train = rows.filter((x) => x.type === "train");
      const evals = rows.filter((x) => x.type === "eval");
      const last = train.at(-1)!;
      const moby = await evalRun(out, "moby-dick", budget);
      const sotu = await evalRun(out, "sotu", budget);
      const times = stepMs(rows, budget.evalEvery);
      const sotuBefore = evals.find((x) => x.step === 0)!.valLoss as number;
      const sotuAfter = evals.at(-1)!.valLoss as number;
      table.push({
        label: m.label,
        paper: m.paper,
        claim: m.claim,
        lr: m.lr,
        lrSource: m.lrSource,
        flags: m.flags ?? null,
        trainable: (start.trainableParameters as number | undefined) ?? start.parameters,
        baseParams: start.baseParameters ?? start.parameters,
        stateBytes: last.stateBytes as number,
        meanStepMs: round(times.mean, 1),
        medianStepMs: round(times.median, 1),
        sotuBefore: round(sotuBefore, 4),
        sotuAfter: round(sotuAfter, 4),
        sotuAfterEval: round(sotu.loss, 4),
        mobyAfter: round(moby.loss, 4),
        mobyDelta: round(moby.loss - pretrain.mobyValLoss, 4),
        trainLossFinal: round(mean(train.slice(-5).map((x) => x.loss as number)), 4),
        elapsedS: round(last.elapsed as number, 1),
        peakRssMiB: round(r.peakRssMiB, 0),
        load: r.load,
      });
      series.push({
        label: m.label,
        train: train.map((x) => ({ step: x.step, loss: x.loss, elapsed: x.elapsed })),
        eval: evals.map((x) => ({ step: x.step, valLoss: x.valLoss })),
      });
      log(
        `finetune: ${m.label}: sotu ${sotuBefore.toFixed(4)} → ${sotuAfter.toFixed(4)}, moby ${moby.loss.toFixed(4)}, ${times.mean.toFixed(0)} ms/step`,
      );
    }
    const full = table[0]!;
    for (const t of table) {
      t.trainableShare = round(t.trainable / t.baseParams, 5);
      t.stateRatio = round(t.stateBytes / full.stateBytes, 4);
      t.stepRatio = round(t.meanStepMs / full.meanStepMs, 2);
    }
    const args = process.argv.slice(2).filter((a) => a !== "--keep");
    writeResult(smoke ? "finetune-smoke" : quick ? "finetune-quick" : "finetune", {
      benchmark: "finetune",
      command: ["npm run bench -- finetune", ...args].join(" "),
      date: new Date().toISOString(),
      machine: machine(),
      load: { start: loadStart, end: load1() },
      threads: 1,
      quick,
      budget,
      targetModules: ["q_proj", "v_proj"],
      rank: 8,
      alpha: 8,
      pretrain,
      table,
      series,
      minutes: round((performance.now() - started) / 60000, 1),
    });
  } finally {
    if (keep) log(`runs kept in ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (isChild()) {
    if (process.env.BENCH_CLI) return cliChild(JSON.parse(process.env.BENCH_CLI) as string[]);
    return fullChild(JSON.parse(process.env.BENCH_FULL!));
  }
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      keep: { type: "boolean" },
      smoke: { type: "boolean" },
    },
  });
  await parent(Boolean(values.quick), Boolean(values.keep), Boolean(values.smoke));
}

await main();
