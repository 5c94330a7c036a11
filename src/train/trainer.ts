/**
 * The training loop: data → jit'ed loss-and-gradient → optimizer → parameters, with evaluation,
 * metrics, checkpoints, resume and a report. The CLI is a thin layer over `train`.
 *
 * Exactness of resume: everything that decides step s+1 — parameters, optimizer state, sampler
 * position and random state, learning-rate schedule — is restored from the checkpoint, so a
 * resumed run reproduces the uninterrupted one bit for bit.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { jit, type numpy as np } from "@jax-js/jax";
import { loadCorpus } from "../data/corpus.js";
import { BatchSampler, validationBatches } from "../data/sampler.js";
import { splitTokens } from "../data/split.js";
import { buildTokenizer, type Tokenizer, tokenizerFromJSON } from "../data/tokenizer.js";
import * as tree from "../engine/tree.js";
import { initLlama, type LlamaParams, llamaLoss, makeLossAndGrad } from "../nn/llama.js";
import { type LlamaConfig, type LlamaPreset, llamaPreset } from "../nn/llama-config.js";
import { chain, type GradientTransformation } from "../optim/core.js";
import { accumulateGradients } from "../optim/transforms/accumulate.js";
import { clipByGlobalNorm, globalNormOf } from "../optim/transforms/clip.js";
import { writeReport } from "../report/index.js";
import { hasCheckpoint, loadCheckpoint, newMeta, saveCheckpoint } from "./checkpoint.js";
import { type TrainConfig, UsageError } from "./config.js";
import { sampleText } from "./generate.js";
import { learningRateSchedule } from "./lr.js";
import { MetricsLog } from "./metrics.js";
import { GradientSpikeMonitor } from "./monitors/spike-monitor.js";
import { Progress } from "./progress.js";
import { getOptimizer } from "./registry.js";

export interface TrainOptions {
  config: TrainConfig;
  out: string;
  /** Continue the checkpoint in `out`; `config` must agree with the checkpoint's (see
   *  `checkResumable`) except for steps, logging, evaluation and checkpoint intervals. */
  resume?: boolean;
  quiet?: boolean;
  /** Abort (Ctrl-C): the loop stops after the current step, checkpoints and reports. */
  signal?: AbortSignal;
  /** Name in reports. */
  name?: string;
}

export interface TrainResult {
  out: string;
  step: number;
  trainLoss: number;
  valLoss: number;
  sample: string;
  interrupted: boolean;
  stateBytes: number;
  elapsed: number;
}

/** Read a scalar array (consumed) without blocking the thread pool. */
const scalar = async (a: np.Array) => (await a.data())[0];

/** Build the run's optimizer: gradient clipping → the named optimizer → (accumulation). */
export function buildOptimizer(config: TrainConfig): GradientTransformation<any> {
  const entry = getOptimizer(config.optimizer);
  const peak = config.lr ?? entry.defaultLearningRate;
  let opt: GradientTransformation<any>;
  try {
    opt = entry.create({
      ...config.optimizerOptions,
      learningRate: learningRateSchedule(config, peak),
    });
  } catch (error) {
    throw new UsageError(`optimizer ${entry.name}: ${(error as Error).message}`);
  }
  if (config.clipNorm > 0) opt = chain(clipByGlobalNorm(config.clipNorm), opt);
  return config.accumulate > 1 ? accumulateGradients(opt, config.accumulate) : opt;
}

/** The registry optimizer's own state inside the wrappers `buildOptimizer` adds. */
function ownState(config: TrainConfig, state: any): unknown {
  const unwrapped = config.accumulate > 1 ? state.inner : state;
  return config.clipNorm > 0 ? unwrapped[1] : unwrapped;
}

export const peakLearningRate = (config: TrainConfig) =>
  config.lr ?? getOptimizer(config.optimizer).defaultLearningRate;

/** Fields that must match the checkpoint when resuming (the rest may change). */
const FIXED_ON_RESUME: (keyof TrainConfig)[] = [
  "model",
  "data",
  "tokenizer",
  "optimizer",
  "optimizerOptions",
  "lr",
  "schedule",
  "warmup",
  "decaySteps",
  "batchSize",
  "seqLen",
  "seed",
  "clipNorm",
  "accumulate",
  "valFraction",
];

/** Throw if `config` cannot continue a checkpoint trained with `saved` up to `step`. */
export function checkResumable(saved: TrainConfig, config: TrainConfig, step: number): void {
  for (const key of FIXED_ON_RESUME) {
    if (JSON.stringify(config[key]) !== JSON.stringify(saved[key])) {
      throw new UsageError(
        `cannot resume: ${key} is ${JSON.stringify(config[key])} but the checkpoint was trained with ${JSON.stringify(saved[key])}`,
      );
    }
  }
  if (config.steps <= step) {
    throw new UsageError(
      `--steps must be greater than the checkpoint's step (${step}), got ${config.steps}`,
    );
  }
}

interface Data {
  tokenizer: Tokenizer;
  train: Int32Array;
  val: Int32Array;
  /** Validation tokens per character (1 for char tokenizers). */
  tokensPerChar: number;
}

function loadData(config: TrainConfig, tokenizerJson?: unknown): Data {
  let corpus: ReturnType<typeof loadCorpus>;
  try {
    corpus = loadCorpus(config.data);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const tokenizer = tokenizerJson
    ? tokenizerFromJSON(tokenizerJson)
    : buildTokenizer(config.tokenizer, corpus.text);
  const tokens = tokenizer.encode(corpus.text);
  const { train, val } = splitTokens(tokens, { valFraction: config.valFraction });
  const need = config.seqLen + 1;
  if (train.length < need || val.length < need) {
    throw new UsageError(
      `corpus ${config.data} is too small for --seq-len ${config.seqLen} (train ${train.length}, validation ${val.length} tokens)`,
    );
  }
  const valChars = tokenizer.decode(val).length;
  return { tokenizer, train, val, tokensPerChar: val.length / valChars };
}

/** Mean validation loss over the fixed evaluation windows. */
async function evaluate(
  lossFn: (p: LlamaParams, x: np.Array, y: np.Array) => np.Array,
  params: LlamaParams,
  data: Data,
  config: TrainConfig,
): Promise<number> {
  let total = 0;
  let rows = 0;
  for (const batch of validationBatches(data.val, {
    batchSize: config.batchSize,
    seqLen: config.seqLen,
    maxBatches: config.evalBatches,
  })) {
    if (batch.starts.length !== config.batchSize) {
      batch.inputs.dispose();
      batch.targets.dispose();
      continue; // a ragged last batch would compile another program; skip it
    }
    total +=
      (await scalar(lossFn(tree.share(params), batch.inputs, batch.targets))) * config.batchSize;
    rows += config.batchSize;
  }
  return rows > 0 ? total / rows : Number.NaN;
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const out = o.out;
  const progress = new Progress(process.stderr, o.quiet);
  const metrics = new MetricsLog(join(out, "metrics.jsonl"));

  let config = o.config;
  let step = 0;
  let elapsedBefore = 0;
  let params: LlamaParams;
  let modelConfig: LlamaConfig;
  let optState: tree.Tree<any>;
  let sampler: BatchSampler;
  let data: Data;
  let opt: GradientTransformation<any>;
  const spikes = new GradientSpikeMonitor();

  if (o.resume) {
    const ck = await loadCheckpoint(out);
    step = ck.meta.step;
    // Keep the decay horizon the run started with (a new --steps only moves the target).
    if (config.decaySteps === undefined && ck.meta.config.decaySteps !== undefined)
      config = { ...config, decaySteps: ck.meta.config.decaySteps };
    checkResumable(ck.meta.config, config, step);
    data = loadData(config, ck.meta.tokenizer);
    modelConfig = ck.modelConfig;
    params = ck.params;
    opt = buildOptimizer(config);
    const fresh = opt.init(tree.share(params));
    checkStateMatches(fresh, ck.optState, config.optimizer);
    tree.dispose(fresh);
    optState = ck.optState;
    sampler = BatchSampler.restore(
      data.train,
      { batchSize: config.batchSize, seqLen: config.seqLen },
      ck.meta.sampler,
    );
    elapsedBefore = ck.meta.elapsed;
    if (ck.meta.spikes) spikes.restore(ck.meta.spikes);
    metrics.truncateAfter(step);
    progress.log(`resuming ${out} at step ${step} → ${config.steps}`);
  } else {
    // Pin a decaying schedule's horizon in the saved configuration, so that resuming with a
    // larger --steps continues this schedule instead of stretching it mid-run.
    if (config.schedule !== "constant" && config.decaySteps === undefined)
      config = { ...config, decaySteps: config.steps };
    data = loadData(config);
    modelConfig = llamaPreset(config.model as LlamaPreset, data.tokenizer.vocabSize, {
      max_position_embeddings: Math.max(256, config.seqLen),
    });
    params = initLlama(modelConfig, config.seed);
    opt = buildOptimizer(config);
    optState = opt.init(tree.share(params));
    sampler = new BatchSampler(data.train, {
      batchSize: config.batchSize,
      seqLen: config.seqLen,
      seed: config.seed,
    });
    if (existsSync(metrics.path) || hasCheckpoint(out)) {
      tree.dispose([params, optState]);
      throw new UsageError(
        `${out} already holds a run: continue it with --resume ${out}, or choose another --out`,
      );
    }
    mkdirSync(out, { recursive: true }); // only once the configuration has proved usable
  }

  const lossAndGrad = makeLossAndGrad(modelConfig);
  const lossOnly = jit((p: LlamaParams, x: np.Array, y: np.Array) =>
    llamaLoss(p, x, y, modelConfig),
  );
  const schedule = learningRateSchedule(config, peakLearningRate(config));
  const entry = getOptimizer(config.optimizer);
  const tokensPerStep = config.batchSize * config.seqLen * config.accumulate;
  const start = performance.now();
  const seconds = () => elapsedBefore + (performance.now() - start) / 1000;
  const startStep = step;
  let lastLog = { step, time: seconds() };
  let trainLoss = Number.NaN;
  let valLoss = Number.NaN;
  let interrupted = false;

  const checkpoint = () =>
    saveCheckpoint(out, {
      meta: newMeta({
        step,
        config,
        tokenizer: data.tokenizer.toJSON(),
        sampler: sampler.state(),
        spikes: spikes.state(),
        elapsed: seconds(),
      }),
      modelConfig,
      params,
      optState,
    });
  const runEval = async () => {
    valLoss = await evaluate(lossOnly, params, data, config);
    metrics.append({
      type: "eval",
      step,
      elapsed: seconds(),
      valLoss,
      perplexity: Math.exp(valLoss),
      bitsPerChar: (valLoss / Math.LN2) * data.tokensPerChar,
    });
    progress.log(`step ${step}: validation loss ${valLoss.toFixed(4)}`);
  };

  try {
    while (step < config.steps) {
      let lossSum = 0;
      let gradNorm = Number.NaN;
      const log = (step + 1) % config.logEvery === 0 || step + 1 === config.steps;
      for (let micro = 0; micro < config.accumulate; micro++) {
        const batch = sampler.next();
        const [loss, grads] = lossAndGrad(tree.share(params), batch.inputs, batch.targets);
        if (micro === config.accumulate - 1) gradNorm = await scalar(globalNormOf(tree.share(grads)));
        const [updates, next] = opt.update(grads, optState, tree.share(params));
        optState = next;
        params = tree.map(
          (p: np.Array, _path, u: np.Array) => p.add(u),
          params,
          updates,
        ) as LlamaParams;
        lossSum += await scalar(loss);
      }
      step++;
      trainLoss = lossSum / config.accumulate;
      if (spikes.observe(gradNorm, step))
        progress.log(`step ${step}: gradient spike (norm ${gradNorm.toPrecision(3)})`);
      if (!Number.isFinite(trainLoss)) progress.log(`step ${step}: loss is ${trainLoss}`);
      if (log) {
        const now = seconds();
        metrics.append({
          type: "train",
          step,
          loss: trainLoss,
          lr: schedule(step - 1),
          gradNorm,
          tokensPerSec:
            ((step - lastLog.step) * tokensPerStep) / Math.max(now - lastLog.time, 1e-9),
          elapsed: now,
          stateBytes: tree.stateBytes(optState),
          gradSpikes: spikes.metrics().spikes,
          ...(entry.metrics ? entry.metrics(ownState(config, optState)) : {}),
        });
        lastLog = { step, time: now };
      }
      const elapsed = seconds() - elapsedBefore;
      progress.update(
        {
          step,
          total: config.steps,
          loss: trainLoss,
          tokensPerSec: ((step - startStep) * tokensPerStep) / Math.max(elapsed, 1e-9),
          elapsed,
        },
        startStep,
        log,
      );
      if (config.evalEvery > 0 && step % config.evalEvery === 0 && step < config.steps)
        await runEval();
      if (
        config.checkpointEvery > 0 &&
        step % config.checkpointEvery === 0 &&
        step < config.steps
      ) {
        await checkpoint();
      }
      await new Promise((resolve) => setImmediate(resolve)); // let Ctrl-C through
      if (o.signal?.aborted) {
        interrupted = true;
        break;
      }
    }
    progress.end();
    if (!interrupted) await runEval();
    await checkpoint();
    let sample = "";
    if (!interrupted && config.sampleLength > 0) {
      sample = sampleText(params, modelConfig, data.tokenizer, {
        length: config.sampleLength,
        temperature: config.temperature,
        topK: config.topK,
        seed: config.seed,
        window: config.seqLen,
      });
      metrics.append({ type: "sample", step, text: sample });
    }
    await writeRunReport(out, o.name ?? config.optimizer, config);
    return {
      out,
      step,
      trainLoss,
      valLoss,
      sample,
      interrupted,
      stateBytes: tree.stateBytes(optState),
      elapsed: seconds(),
    };
  } finally {
    lossAndGrad.dispose();
    lossOnly.dispose();
    tree.dispose(params);
    tree.dispose(optState);
  }
}

/**
 * The loaded optimizer state must have the fresh state's structure: the same paths, and at every
 * path that is an array in the fresh state an array of the same dtype and shape. (Some methods
 * fill in slots that start as null, e.g. a preconditioner computed at its first refresh.)
 */
function checkStateMatches(fresh: tree.Tree<any>, loaded: tree.Tree<any>, name: string): void {
  const describe = (t: tree.Tree<any>) => {
    const out = new Map<string, string | null>();
    tree.walk(t, (leaf, path) =>
      out.set(path, tree.isArray(leaf) ? `${leaf.dtype}[${leaf.shape}]` : null),
    );
    return out;
  };
  const a = describe(fresh);
  const b = describe(loaded);
  const fail = () => {
    throw new UsageError(
      `cannot resume: the checkpoint's optimizer state does not match optimizer ${name}`,
    );
  };
  for (const [path, kind] of a) {
    if (!b.has(path) || (kind !== null && b.get(path) !== kind)) fail();
  }
  for (const path of b.keys()) if (!a.has(path) && !nullPrefix(path, a)) fail();
}

/** A loaded path may sit below a slot that is null in the fresh state. */
const nullPrefix = (path: string, fresh: Map<string, string | null>) =>
  [...fresh].some(([p, kind]) => kind === null && path.startsWith(`${p}.`));

/** report.html for one run directory (from its metrics.jsonl). */
export async function writeRunReport(
  out: string,
  name: string,
  config: TrainConfig,
): Promise<void> {
  const rows = new MetricsLog(join(out, "metrics.jsonl")).read();
  await writeReport(join(out, "report.html"), [{ name, config: { ...config }, metrics: rows }], {
    title: `Rankwise run: ${name}`,
  });
}
