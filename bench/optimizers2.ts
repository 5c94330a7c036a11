/**
 * Round-two optimizer benchmark (issue 17): the second round's training methods against AdamW,
 * Muon and GaLore on the default model preset with the trainer's default data and settings
 * (moby-dick characters, batch 16 × 64, 20 warm-up steps then a constant rate, clipping to 1,
 * seed 0), each at its registry default learning rate unless METHODS says otherwise and why.
 *
 * Two passes, every run in its own child process:
 *   1. the long run: N steps per method through bench/optimizers.ts's child (the library's
 *      `train()`; train loss every 5 steps, validation loss at intervals, `stateBytes`, peak RSS,
 *      `update` + `applyUpdates` alone) — the same code and result shape as round one;
 *   2. the timing pass (on by default; `--no-timing` skips it): the machine is shared, so the long
 *      run's wall clock is not trusted. Each method runs `warmup + timed` steps with a row per
 *      step; its ms/step is the median of the timed steps' intervals, methods alternated over
 *      `rounds` rounds so that load drifts hit all alike, with the load recorded per child. The
 *      report draws loss against time as loss against step × this ms/step.
 * The methods present are read from the registry at run time: the optional names (other helpers'
 * work) are skipped with a note when not registered.
 *
 *   npm run bench -- optimizers2            # full: 100 steps per method, then the timing pass
 *   npm run bench -- optimizers2 --quick    # smoke: 4 steps per method, one short timing round
 *   node --import tsx bench/optimizers2.ts --steps 100 --methods adamw,badam --no-timing
 *
 * Writes bench/results/optimizers2.json (optimizers2-quick.json with --quick); the section of
 * docs/benchmarks.md is bench/report-optimizers2.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  alternate,
  isChild,
  type LoadRecord,
  load1,
  loadProbe,
  log,
  machine,
  median,
  peakRssMiB,
  reportToParent,
  round,
  runScript,
  writeResult,
} from "./common.js";
import type { Budget, ChildResult, RunSpec } from "./optimizers.js";

/** One compared method: its registry name, chart group, paper and the paper's headline claim. */
interface Method {
  name: string;
  group: "baseline" | "low-rank" | "sampling" | "second-order";
  paper: string;
  /** Quoted from the seeds' abstracts (../shared/seeds) or the authors' README. */
  claim: string;
  lr?: number;
  /** Why `lr` departs from the registry default. */
  lrNote?: string;
  /** What the implementation does not reproduce of the paper (from its file header), or why the
   *  run departs from the defaults or trails AdamW (measured, from the file header). */
  note?: string;
  options?: Record<string, unknown>;
  /** The registered optimizer, where the row's name is not one (default: the name). */
  optimizer?: string;
  /** Trainer settings besides the optimizer's (RunSpec.config). */
  config?: Record<string, unknown>;
}

const optimizerOf = (m: Method): string => m.optimizer ?? m.name;

/** Options every projection method gets where it has them: the registry's ranks (128–256) are
 *  full rank for the default preset's 128-wide matrices, so nothing would be projected. Round
 *  one's low-rank comparison used the same rank and refresh gap. */
const PROJECTION = { rank: 32, updateProjGap: 50 };

const GALORE_LR =
  "0.01 with GaLore's scale 0.25 (an effective 0.0025), as in round one's low-rank comparison and the GaLore paper's setup; the registry's 0.003 × 0.25 is a quarter of AdamW's step";

const METHODS: Method[] = [
  { name: "adamw", group: "baseline", paper: "baseline", claim: "" },
  { name: "muon", group: "baseline", paper: "baseline", claim: "" },
  {
    name: "galore",
    group: "baseline",
    paper: "GaLore (seed A)",
    claim: "reduces optimizer-state memory by up to 65.5% while keeping pre-training performance",
    lr: 0.01,
    lrNote: GALORE_LR,
  },
  {
    name: "q-galore",
    group: "low-rank",
    paper: "Q-GaLore (seed C)",
    claim:
      "INT4 projections and adaptive subspace refresh: comparable performance with far fewer SVDs than GaLore",
    lr: 0.01,
    lrNote: GALORE_LR,
  },
  {
    name: "coap",
    group: "low-rank",
    paper: "COAP (seeds B, C)",
    claim:
      "LLaMA-1B: 61% less optimizer memory at 2% extra time, the same perplexity as AdamW; outperforms existing projection methods in speed and quality",
  },
  {
    name: "gradnormlorp",
    group: "low-rank",
    paper: "GradNormLoRP (seeds A, C, E)",
    claim:
      "8-bit variant: up to 89.5% less optimizer memory; comparable to full fine-tuning, better than other low-rank methods",
  },
  {
    name: "tensor-galore",
    group: "low-rank",
    paper: "Tensor-GaLore (issue 17)",
    claim: "GaLore's saving extended to leaves of three or more dimensions",
    lr: 0.01,
    lrNote: GALORE_LR,
  },
  {
    name: "sst",
    group: "low-rank",
    paper: "Sparse Spectral Training (seed E)",
    claim:
      "OPT-125M at rank 8.3% of the embedding dimension: closes 67.6% of the perplexity gap between low-rank and full-rank training",
  },
  {
    name: "sltrain",
    group: "low-rank",
    paper: "SLTrain (seeds C, E)",
    claim:
      "sparse plus low-rank weights: comparable to full-rank pre-training; up to 73% less memory for LLaMA 7B (with quantisation and per-layer updates)",
    note: "as an optimizer over dense W with S and its moments held densely (src/optim/optimizers/sltrain.ts): the paper's training dynamics, not its memory saving (the next row realises it). Both forms leave the unigram plateau late here (near step 130 in 300-step runs)",
  },
  {
    name: "sltrain-model",
    optimizer: "adamw",
    config: { sltrain: 32 },
    group: "low-rank",
    paper: "SLTrain (seeds C, E)",
    claim:
      "sparse plus low-rank weights: comparable to full-rank pre-training; up to 73% less memory for LLaMA 7B (with quantisation and per-layer updates)",
    note: "the model option `train --sltrain 32` (src/nn/sparse-model.ts) with AdamW: the model holds B, A and S's values instead of each decoder W (δ 0.01, α 32, as the sltrain row), so the parameters and AdamW's state shrink with them",
  },
  {
    name: "badam",
    group: "sampling",
    paper: "BAdam (Ledzy/BAdam README)",
    claim:
      "Adam on one block at a time: memory 2M + 16M/D GB against Adam's 18M (M billion parameters, D blocks); MT-bench 6.67 against LoRA's 6.41 on Llama 3-8B (authors' README)",
    // The fine-tuning defaults (K = 50, embedding and head never trained) leave this randomly
    // initialised model's tied embedding frozen: val 3.99 after 100 steps (src/optim/optimizers/badam.ts).
    options: { includeEmbedding: true, switchMode: "ascending", switchBlockEvery: 20 },
    note: "run with the embedding as a block and trained first, as the authors' README advises for randomly initialised layers, and K = 20 so that the 100 steps visit each of the 5 blocks once (the README balances data over blocks, K = n/(BD), with a floor of 50 that would train 2 blocks here); at the fine-tuning defaults (K = 50, the tied embedding never trained) val stays at 3.99 (measured)",
  },
  {
    name: "lisa",
    group: "sampling",
    paper: "LISA (arXiv 2403.17919)",
    claim:
      "samples a few middle layers to train at a time: outperforms LoRA and full-parameter fine-tuning at LoRA's memory (paper abstract; not in the seeds)",
  },
  {
    name: "mars-lion",
    group: "sampling",
    paper: "MARS (seed D)",
    claim: "variance-reduced Lion: MARS consistently outperforms AdamW by a large margin on GPT-2",
  },
  {
    name: "mars-shampoo",
    group: "sampling",
    paper: "MARS (seed D)",
    claim:
      "variance-reduced Shampoo: MARS consistently outperforms AdamW by a large margin on GPT-2",
  },
  {
    name: "m-fac",
    group: "second-order",
    paper: "M-FAC (seeds A, B)",
    claim:
      "inverse-Fisher products over a window of m gradients at O(dm + m²) per step: state-of-the-art optimization at lower overhead than other second-order methods",
    // Without momentum the empirical-Fisher step stays at val 3.22 (src/optim/optimizers/m-fac.ts).
    options: { momentum: 0.9 },
    note: "run with momentum 0.9 (an option of the authors' MFAC and main_optim.py, default 0 there): the inverse empirical Fisher of a 32-gradient window scales each batch's own noise n by about m/‖n‖² but the shared part c by about 1/‖c‖², raising the step's noise-to-signal ratio about m‖c‖²/‖n‖²-fold over SGD's, and the momentum averages the noise out; without it val stays near 3.22 (η 3e-3: 2.95; damping 0.1, close to SGD: 3.08; measured)",
  },
  {
    name: "adafisher",
    group: "second-order",
    paper: "AdaFisher (seed A)",
    claim:
      "block-diagonal Fisher preconditioning outperforms SOTA optimizers in accuracy and convergence speed, with robust hyperparameters",
    // At TCov = 100 the Fisher factors are computed once in 100 steps: val 3.11 (adafisher.ts).
    options: { tCov: 10 },
    note: "run with TCov = 10, the authors' language-model script's curvature interval: at the optimizer's TCov = 100 the factors are computed once, at step 0, in these 100 steps, and val ends at 3.11 (at TCov 10: 2.89; η 0.1 or 0.3 at TCov 100: 2.87; measured)",
  },
  {
    name: "sania",
    group: "second-order",
    paper: "SANIA (seed B)",
    claim: "Polyak-type scale-invariant steps remove the need to tune the step size",
    lr: 0.03,
    lrNote:
      "0.03: SANIA's Polyak step aims at a loss of 0 and, with ε = 0.1 flooring almost every coordinate's B, is SGD at a rate of about f/‖g‖², which the trainer's clipping of g (not of f) enlarges; at its η = 1 val rises from 3.80 to 4.06 (3.10 unclipped), at η 0.3 / 0.1 / 0.03 it ends at 3.10 / 3.10 / 3.00 (measured)",
    note: "at every η tried it ends near the unigram plateau (3.06 nats, the entropy of the character frequencies), where SGD also ends these 100 steps (SGD at 0.1: val 3.04, measured)",
  },
  {
    name: "induced-metric",
    group: "second-order",
    paper: "The Optimiser Hidden in Plain Sight (seed B)",
    claim:
      "slight improvement over state-of-the-art optimizers, at a cost comparable to Adam's; curvature lowers the effective rate like smoothed clipping",
    note: "the SGD form stays near the unigram plateau as plain SGD does (SGD at 0.1: 3.04; this rule at η 1: 3.07, and at ξ = 0, no damping: 3.07; measured), in line with the authors' own Shakespeare sweep of a model this size (tuned SGD form: perplexity 8.07, SGD 5.06, Adam 4.39); the Adam form, induced-metric-adam, reaches 2.56 here (measured)",
  },
  {
    name: "induced-metric-adam",
    group: "second-order",
    paper: "The Optimiser Hidden in Plain Sight (seed B)",
    claim: "the induced metric with Adam's diagonal as its base metric",
  },
];

/** The registry as a child sees it: names, option names and default learning rates. */
interface Registry {
  names: string[];
  options: Record<string, string[]>;
  defaultLr: Record<string, number>;
}

interface TimingBudget {
  warmup: number;
  timed: number;
  rounds: number;
}

interface Timing {
  label: string;
  /** Milliseconds of each timed step. */
  stepMs: number[];
  medianMs: number;
  /** 1-minute load average right after the timed steps, and the child's load record. */
  load1: number;
  load: LoadRecord;
  peakRssMiB: number;
}

type ChildJob =
  | { mode: "list" }
  | { mode: "time"; spec: RunSpec; budget: Budget; timing: TimingBudget };

async function listChild(): Promise<void> {
  const { optimizerNames, getOptimizer } = await import("../src/train/registry.js");
  const names = optimizerNames();
  reportToParent({
    names,
    options: Object.fromEntries(names.map((n) => [n, getOptimizer(n).options.map((o) => o.name)])),
    defaultLr: Object.fromEntries(names.map((n) => [n, getOptimizer(n).defaultLearningRate])),
  } satisfies Registry);
}

/** Train `warmup + timed` steps with a metrics row per step and time the last `timed`. */
async function timeChild(spec: RunSpec, budget: Budget, timing: TimingBudget): Promise<void> {
  const finishLoad = loadProbe();
  const { startEngine } = await import("./engine.js");
  await startEngine();
  const { train } = await import("../src/train/trainer.js");
  const { validateConfig } = await import("../src/train/config.js");
  const { readMetrics } = await import("../src/train/metrics.js");
  const config = validateConfig({
    model: budget.model,
    optimizer: spec.optimizer,
    optimizerOptions: spec.options ?? {},
    ...(spec.lr === undefined ? {} : { lr: spec.lr }),
    steps: timing.warmup + timing.timed,
    seed: budget.seed,
    batchSize: budget.batchSize,
    seqLen: budget.seqLen,
    evalEvery: 0,
    evalBatches: 1,
    logEvery: 1,
    checkpointEvery: 0,
    sampleLength: 0,
    clipNorm: budget.clipNorm,
    ...spec.config,
  });
  const label = spec.label ?? spec.optimizer;
  const out = mkdtempSync(join(tmpdir(), "rankwise-bench-opt2-"));
  let rows: Record<string, any>[];
  let loadAfter: number;
  try {
    await train({ config, out, quiet: true, name: label });
    loadAfter = load1();
    rows = readMetrics(join(out, "metrics.jsonl")) as Record<string, any>[];
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  const elapsed = new Map(
    rows.filter((r) => r.type === "train").map((r) => [r.step as number, r.elapsed as number]),
  );
  const stepMs: number[] = [];
  for (let s = timing.warmup + 1; s <= timing.warmup + timing.timed; s++) {
    stepMs.push((elapsed.get(s)! - elapsed.get(s - 1)!) * 1000);
  }
  reportToParent({
    label,
    stepMs: stepMs.map((x) => round(x, 1)),
    medianMs: round(median(stepMs), 1),
    load1: loadAfter,
    load: finishLoad(),
    peakRssMiB: round(peakRssMiB(), 0),
  } satisfies Timing);
}

/** A child's failure as one line (its stderr has already passed through). */
const failure = (error: unknown): string => (error as Error).message.split("\n")[0]!;

async function parent(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      steps: { type: "string" },
      methods: { type: "string" },
      "no-timing": { type: "boolean", default: false },
      rounds: { type: "string" },
    },
  });
  const quick = Boolean(values.quick);
  const steps = Number(values.steps ?? (quick ? 4 : 100));
  if (!Number.isInteger(steps) || steps < 2) {
    throw new RangeError(`--steps must be an integer ≥ 2, got "${values.steps}"`);
  }
  const timing: TimingBudget = {
    warmup: quick ? 1 : 3,
    timed: quick ? 2 : 8,
    rounds: Number(values.rounds ?? (quick ? 1 : 2)),
  };
  if (!Number.isInteger(timing.rounds) || timing.rounds < 1) {
    throw new RangeError(`--rounds must be an integer ≥ 1, got "${values.rounds}"`);
  }
  const budget: Budget = {
    model: "default",
    steps,
    seed: 0,
    batchSize: 16,
    seqLen: 64,
    evalEvery: quick ? 2 : 20,
    evalBatches: quick ? 1 : 8,
    logEvery: quick ? 1 : 5,
    clipNorm: 1,
    // Fewer than round one's 20: the timing pass measures the step; this only splits off the update.
    updateReps: quick ? 1 : 5,
  };
  const started = performance.now();
  const loadStart = load1();

  const registry = await runScript<Registry>("bench/optimizers2.ts", 1, [], {
    BENCH_OPT2: JSON.stringify({ mode: "list" } satisfies ChildJob),
  });
  const wanted = values.methods ? new Set(values.methods.split(",").filter(Boolean)) : undefined;
  if (wanted) {
    const unknown = [...wanted].filter((n) => !METHODS.some((m) => m.name === n));
    if (unknown.length > 0) {
      throw new RangeError(
        `--methods: unknown ${unknown.join(", ")} (accepted: ${METHODS.map((m) => m.name).join(", ")})`,
      );
    }
  }
  const chosen = METHODS.filter((m) => !wanted || wanted.has(m.name));
  const skipped = chosen
    .filter((m) => !registry.names.includes(optimizerOf(m)))
    .map((m) => ({ name: m.name, reason: "not registered in this build" }));
  const methods = chosen.filter((m) => registry.names.includes(optimizerOf(m)));
  for (const s of skipped) log(`optimizers2: skipping ${s.name} (${s.reason})`);
  const specs: RunSpec[] = methods.map((m) => {
    const accepted = registry.options[optimizerOf(m)] ?? [];
    const projection = Object.fromEntries(
      Object.entries(PROJECTION).filter(([k]) => accepted.includes(k)),
    );
    return {
      label: m.name,
      optimizer: optimizerOf(m),
      ...(m.config === undefined ? {} : { config: m.config }),
      options: { ...projection, ...m.options },
      ...(m.lr === undefined ? {} : { lr: m.lr }),
    };
  });

  // 1. The long runs (bench/optimizers.ts's child: train(), series, stateBytes, update time).
  const runs: (ChildResult | { error: string })[] = [];
  for (const [i, spec] of specs.entries()) {
    log(`optimizers2: ${i + 1}/${specs.length} ${spec.label} (${steps} steps)`);
    try {
      runs.push(
        await runScript<ChildResult>("bench/optimizers.ts", 1, [], {
          BENCH_SPEC: JSON.stringify({ spec, budget }),
        }),
      );
    } catch (error) {
      log(`optimizers2: ${spec.label} failed: ${failure(error)}`);
      runs.push({ error: failure(error) });
    }
  }

  // 2. The timing pass, methods alternated over rounds.
  const timings: (Timing | { error: string })[][] = values["no-timing"]
    ? specs.map(() => [])
    : await alternate(specs, timing.rounds, async (spec, r) => {
        log(`optimizers2: timing ${spec.label}, round ${r + 1}/${timing.rounds}`);
        try {
          return await runScript<Timing>("bench/optimizers2.ts", 1, [], {
            BENCH_OPT2: JSON.stringify({ mode: "time", spec, budget, timing } satisfies ChildJob),
          });
        } catch (error) {
          return { error: failure(error) };
        }
      });

  const ok = (x: ChildResult | { error: string }): x is ChildResult => !("error" in x);
  const baseRun = runs[specs.findIndex((s) => s.label === "adamw")];
  const baseline = baseRun && ok(baseRun) ? baseRun : undefined;
  const timedMs = timings.map((t) => {
    const ms = t.flatMap((x) => ("error" in x ? [] : x.stepMs));
    return ms.length > 0 ? median(ms) : Number.NaN;
  });
  const baseTimed = timedMs[specs.findIndex((s) => s.label === "adamw")];
  const table = specs.map((spec, i) => {
    const m = methods[i]!;
    const r = runs[i]!;
    const common = {
      label: spec.label!,
      group: m.group,
      paper: m.paper,
      claim: m.claim,
      options: spec.options,
      lr: spec.lr ?? registry.defaultLr[optimizerOf(m)]!,
      lrNote: m.lrNote ?? null,
      note: m.note ?? null,
      timedStepMs: round(timedMs[i]!, 1),
      timedRatio:
        baseTimed && Number.isFinite(baseTimed) ? round(timedMs[i]! / baseTimed, 2) : null,
      timing: timings[i]!,
    };
    if (!ok(r)) return { ...common, error: r.error };
    const bestVal = Math.min(...r.eval.map((e) => e.valLoss).filter(Number.isFinite));
    return {
      ...common,
      stateBytes: r.stateBytes,
      stateRatio: baseline ? round(r.stateBytes / baseline.stateBytes, 3) : null,
      stateBytesPerParam: round(r.stateBytes / r.params, 2),
      runStepMs: round(r.meanStepMs, 1),
      updateMs: round(r.updateMs, 2),
      trainLoss: round(r.trainLossFinal, 4),
      valLoss: round(r.valLoss, 4),
      bestValLoss: Number.isFinite(bestVal) ? round(bestVal, 4) : null,
      valDelta: baseline ? round(r.valLoss - baseline.valLoss, 4) : null,
      peakRssMiB: round(r.peakRssMiB, 0),
      load: r.load,
    };
  });
  const file = quick ? "optimizers2-quick" : "optimizers2";
  writeResult(file, {
    benchmark: "optimizers2",
    command: ["npm run bench -- optimizers2", ...process.argv.slice(2)].join(" "),
    date: new Date().toISOString(),
    machine: machine(),
    load: { start: loadStart, end: load1() },
    threads: 1,
    quick,
    budget,
    timingBudget: timing,
    params: runs.find(ok)?.params ?? null,
    baseline: baseline ? "adamw" : null,
    skipped,
    // Every measuring child's load record, for the page's load line.
    childLoads: [
      ...runs.flatMap((r) => (ok(r) ? [r.load] : [])),
      ...timings.flat().flatMap((x) => ("error" in x ? [] : [x.load])),
    ],
    table,
    series: runs.flatMap((r, i) =>
      ok(r) ? [{ label: specs[i]!.label!, train: r.train, eval: r.eval }] : [],
    ),
    minutes: round((performance.now() - started) / 60000, 1),
  });
}

async function main(): Promise<void> {
  if (!isChild()) return parent();
  const job = JSON.parse(process.env.BENCH_OPT2!) as ChildJob;
  if (job.mode === "list") return listChild();
  return timeChild(job.spec, job.budget, job.timing);
}

main().catch((error: Error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
