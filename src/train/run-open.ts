/**
 * Opening a run: a fresh start (validate, refuse an occupied folder, then allocate) or a resume
 * from the folder's checkpoint (load, check it fits the configuration, restore the sampler and
 * monitors). Either way nothing stays allocated when the run is refused. `openRun` then adds what
 * every run needs: the compiled loss functions, the schedule and the clock; `closeRun` frees them.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { jit, type numpy as np } from "@jax-js/jax";
import { BatchSampler } from "../data/sampler.js";
import * as tree from "../engine/tree.js";
import { initLlama, type LlamaParams, llamaLoss, makeLossAndGrad } from "../nn/llama.js";
import { type LlamaPreset, llamaPreset } from "../nn/llama-config.js";
import { hasCheckpoint, loadCheckpoint } from "./checkpoint.js";
import { UsageError } from "./config.js";
import { learningRateSchedule } from "./lr.js";
import { MetricsLog } from "./metrics.js";
import { GradientSpikeMonitor } from "./monitors/spike-monitor.js";
import { buildOptimizer, peakLearningRate } from "./optimizer.js";
import { Progress } from "./progress.js";
import { checkResumable, checkStateMatches } from "./resume.js";
import type { Run, RunState, TrainOptions } from "./run.js";
import { loadData } from "./run-data.js";

/** A new run in `out`, which must not hold one already. */
export function startRun(o: TrainOptions, metrics: MetricsLog): RunState {
  let config = o.config;
  // Pin a decaying schedule's horizon in the saved configuration, so that resuming with a
  // larger --steps continues this schedule instead of stretching it mid-run.
  if (config.schedule !== "constant" && config.decaySteps === undefined)
    config = { ...config, decaySteps: config.steps };
  const data = loadData(config);
  const modelConfig = llamaPreset(config.model as LlamaPreset, data.tokenizer.vocabSize, {
    max_position_embeddings: Math.max(256, config.seqLen),
  });
  const opt = buildOptimizer(config);
  // Only once the configuration has proved usable: refuse to overwrite, then allocate.
  if (existsSync(metrics.path) || hasCheckpoint(o.out)) {
    throw new UsageError(
      `${o.out} already holds a run: continue it with --resume ${o.out}, or choose another --out`,
    );
  }
  const params = initLlama(modelConfig, config.seed);
  const optState = opt.init(tree.share(params));
  const sampler = new BatchSampler(data.train, {
    batchSize: config.batchSize,
    seqLen: config.seqLen,
    seed: config.seed,
  });
  mkdirSync(o.out, { recursive: true });
  const spikes = new GradientSpikeMonitor();
  return {
    config,
    modelConfig,
    data,
    opt,
    params,
    optState,
    sampler,
    spikes,
    step: 0,
    elapsedBefore: 0,
  };
}

/** Continue the checkpoint in `out`. */
export async function resumeRun(o: TrainOptions, metrics: MetricsLog): Promise<RunState> {
  const ck = await loadCheckpoint(o.out);
  const step = ck.meta.step;
  let config = o.config;
  // Keep the decay horizon the run started with (a new --steps only moves the target).
  if (config.decaySteps === undefined && ck.meta.config.decaySteps !== undefined)
    config = { ...config, decaySteps: ck.meta.config.decaySteps };
  const { params, optState } = ck;
  let data: RunState["data"];
  let opt: RunState["opt"];
  try {
    checkResumable(ck.meta.config, config, step);
    data = loadData(config, ck.meta.tokenizer);
    opt = buildOptimizer(config);
    const fresh = opt.init(tree.share(params));
    try {
      checkStateMatches(fresh, optState, config.optimizer);
    } finally {
      tree.dispose(fresh);
    }
  } catch (error) {
    tree.dispose([params, optState]); // a refused resume leaves nothing allocated
    throw error;
  }
  const sampler = BatchSampler.restore(
    data.train,
    { batchSize: config.batchSize, seqLen: config.seqLen },
    ck.meta.sampler,
  );
  const spikes = new GradientSpikeMonitor();
  if (ck.meta.spikes) spikes.restore(ck.meta.spikes);
  metrics.truncateAfter(step);
  return {
    config,
    modelConfig: ck.modelConfig,
    data,
    opt,
    params: params as LlamaParams,
    optState,
    sampler,
    spikes,
    step,
    elapsedBefore: ck.meta.elapsed,
  };
}

/** Open the run `o` describes: fresh or resumed, with its compiled functions and clock. */
export async function openRun(o: TrainOptions): Promise<Run> {
  const progress = new Progress(process.stderr, o.quiet);
  const metrics = new MetricsLog(join(o.out, "metrics.jsonl"));
  const state = o.resume ? await resumeRun(o, metrics) : startRun(o, metrics);
  if (o.resume) progress.log(`resuming ${o.out} at step ${state.step} → ${state.config.steps}`);
  const { config, modelConfig } = state;
  const start = performance.now();
  const seconds = () => state.elapsedBefore + (performance.now() - start) / 1000;
  return Object.assign(state, {
    out: o.out,
    name: o.name ?? config.optimizer,
    metrics,
    progress,
    lossAndGrad: makeLossAndGrad(modelConfig),
    lossOnly: jit((p: LlamaParams, x: np.Array, y: np.Array) => llamaLoss(p, x, y, modelConfig)),
    schedule: learningRateSchedule(config, peakLearningRate(config)),
    tokensPerStep: config.batchSize * config.seqLen * config.accumulate,
    startStep: state.step,
    seconds,
    lastLog: { step: state.step, time: seconds() },
    trainLoss: Number.NaN,
    valLoss: Number.NaN,
  });
}

/** Free everything the run holds. */
export function closeRun(run: Run): void {
  run.lossAndGrad.dispose();
  run.lossOnly.dispose();
  tree.dispose(run.params);
  tree.dispose(run.optState);
}
