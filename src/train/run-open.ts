/**
 * Opening a run: a fresh start (validate, lock the folder, refuse an occupied one, then allocate)
 * or a resume from the folder's checkpoint (lock, load, check it fits the configuration, restore
 * the sampler and monitors). Either way nothing stays allocated, and no lock stays behind, when
 * the run is refused. `openRun` then adds what
 * every run needs: the compiled loss functions, the schedule and the clock; `closeRun` frees them.
 */
import { existsSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { jit, type numpy as np } from "@jax-js/jax";
import * as tree from "../engine/tree.js";
import { acquireLock, type Lock } from "../io/lock.js";
import { ensureOutputDir } from "../io/output-dir.js";
import { idinitDecoder } from "../nn/init/idinit.js";
import { initLlama, type LlamaParams, llamaLoss, llamaParamShapes } from "../nn/llama.js";
import { type LlamaConfig, type LlamaPreset, llamaPreset } from "../nn/llama-config.js";
import { withSddScales } from "../nn/sdd-model.js";
import { withSltrain } from "../nn/sparse-model.js";
import { hasCheckpoint, loadCheckpoint, readTrainerMeta, removeStaleSaves } from "./checkpoint.js";
import { type TrainConfig, UsageError } from "./config.js";
import { learningRateSchedule } from "./lr.js";
import { MetricsLog } from "./metrics.js";
import { GradientSpikeMonitor } from "./monitors/spike-monitor.js";
import { buildOptimizer, peakLearningRate, type RunOptimizer } from "./optimizer.js";
import { Progress } from "./progress.js";
import { checkResumable, checkStateMatches } from "./resume.js";
import type { Run, RunState, TrainOptions } from "./run.js";
import { announceRun } from "./run-announce.js";
import { type Data, loadData, makeSampler, restoreSampler } from "./run-data.js";
import { makeRunLossAndGrad } from "./run-gradient.js";

/** What a new run needs before it may touch its folder: configuration, data, model shape and
 *  optimizer, all checked, nothing allocated. */
interface Prepared {
  config: TrainConfig;
  data: Data;
  modelConfig: LlamaConfig;
  opt: RunOptimizer;
}

/** The model a fresh run of `config` builds, for a tokenizer of `vocabSize` tokens. */
export function runModelConfig(config: TrainConfig, vocabSize: number): LlamaConfig {
  return llamaPreset(config.model as LlamaPreset, vocabSize, {
    max_position_embeddings: Math.max(256, config.seqLen),
    // --sltrain: the SLTrain record (nn/sparse-model.ts); its supports are drawn from the run's seed.
    ...(config.sltrain === undefined
      ? {}
      : {
          rankwise_sltrain: {
            rank: config.sltrain,
            alpha: config.sltrainAlpha ?? 0,
            density: config.sltrainDensity ?? 0,
            seed: config.seed,
          },
        }),
  });
}

function prepare(config: TrainConfig): Prepared {
  config = pinDecayHorizon(config);
  const data = loadData(config);
  const modelConfig = runModelConfig(config, data.tokenizer.vocabSize);
  return { config, data, modelConfig, opt: buildOptimizer(config) };
}

/**
 * Pin a decaying schedule's horizon in the saved configuration, so that resuming with a larger
 * --steps continues this schedule instead of stretching it mid-run.
 */
export const pinDecayHorizon = <C extends TrainConfig>(config: C): C =>
  config.schedule !== "constant" && config.decaySteps === undefined
    ? { ...config, decaySteps: config.steps }
    : config;

/** A new run's state at step 0 around freshly made trainable `params` (borrowed into the run). */
export function freshState(
  config: TrainConfig,
  modelConfig: LlamaConfig,
  data: Data,
  opt: RunOptimizer,
  params: LlamaParams,
): RunState {
  const optState = opt.init(tree.share(params));
  const sampler = makeSampler(data, config);
  return {
    config,
    modelConfig,
    data,
    opt,
    params,
    optState,
    sampler,
    spikes: new GradientSpikeMonitor(),
    step: 0,
    skippedSteps: 0,
    badSteps: 0,
    elapsedBefore: 0,
  };
}

/** A new run's state at step 0. */
const allocate = ({ config, data, modelConfig, opt }: Prepared): RunState => {
  const params = initLlama(modelConfig, config.seed);
  const init = config.init === "idinit" ? idinitDecoder(params) : params;
  // --sdd: scales of ones on every decoder linear layer (nn/sdd-model.ts), saved with the weights.
  const start = config.sdd ? withSddScales(init, llamaParamShapes(modelConfig)) : init;
  // --sltrain: every decoder linear weight replaced by B = 0, A and sparse values (nn/sparse-model.ts).
  const model = modelConfig.rankwise_sltrain ? withSltrain(start, modelConfig) : start;
  return freshState(config, modelConfig, data, opt, model);
};

/** Drop what a run that stopped before its first checkpoint left (the lock is held). */
function clearUncheckpointed(out: string, progress: Progress, why: string): void {
  const left = ["metrics.jsonl", "report.html"].filter((f) => existsSync(join(out, f)));
  if (left.length === 0) return;
  progress.warn(`${out} ${why}`);
  for (const f of left) rmSync(join(out, f), { force: true });
}

/** Keep the decay horizon the run started with (a new --steps only moves the target). */
const withSavedHorizon = (config: TrainConfig, saved: TrainConfig): TrainConfig =>
  config.decaySteps === undefined && saved.decaySteps !== undefined
    ? { ...config, decaySteps: saved.decaySteps }
    : config;

/** Continue the checkpoint in `out`. */
export async function resumeRun(o: TrainOptions, metrics: MetricsLog): Promise<RunState> {
  const ck = await loadCheckpoint(o.out);
  const step = ck.meta.step;
  const config = withSavedHorizon(o.config, ck.meta.config);
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
    metrics.truncateAfter(step); // the rows past the checkpoint are redone
  } catch (error) {
    tree.dispose([params, optState]); // a refused resume leaves nothing allocated
    throw error;
  }
  let sampler: RunState["sampler"];
  try {
    sampler = restoreSampler(data, config, ck.meta.sampler);
  } catch (error) {
    tree.dispose([params, optState]);
    throw error;
  }
  const spikes = new GradientSpikeMonitor();
  if (ck.meta.spikes) spikes.restore(ck.meta.spikes);
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
    skippedSteps: ck.meta.skippedSteps ?? 0,
    badSteps: ck.meta.badSteps ?? 0,
    elapsedBefore: ck.meta.elapsed,
  };
}

/**
 * Open the run `o` describes, holding the folder's lock: fresh (refused if the folder holds a
 * checkpoint; a run that stopped before its first checkpoint is started over) or resumed (from
 * the checkpoint, or from step 0 when there is none yet). Then the compiled functions and clock.
 */
export async function openRun(o: TrainOptions): Promise<Run> {
  const progress = new Progress(process.stderr, o.quiet);
  const metrics = new MetricsLog(join(o.out, "metrics.jsonl"));
  const what = o.out;
  let lock: Lock | undefined;
  let state: RunState;
  let resumed = false;
  try {
    if (o.resume) {
      if (!statSync(o.out, { throwIfNoEntry: false })?.isDirectory())
        throw new UsageError(`cannot resume: no run folder ${o.out}`);
      // A configuration that cannot continue the checkpoint is refused without taking the lock.
      const saved = hasCheckpoint(o.out) ? readTrainerMeta(o.out) : undefined;
      if (saved) checkResumable(saved.config, withSavedHorizon(o.config, saved.config), saved.step);
      lock = acquireLock(o.out, what, (line) => progress.warn(line));
      removeStaleSaves(o.out);
      if (hasCheckpoint(o.out)) {
        state = await resumeRun(o, metrics);
        resumed = true;
      } else {
        const prepared = prepare(o.config);
        clearUncheckpointed(
          o.out,
          progress,
          "has no checkpoint yet: starting the run again from step 0",
        );
        state = allocate(prepared);
      }
    } else {
      // Only once the configuration has proved usable: claim the folder, refuse to overwrite.
      const prepared = prepare(o.config);
      ensureOutputDir(o.out); // never Node's recursive mkdir: it can loop forever (e.g. /proc/x)
      lock = acquireLock(o.out, what, (line) => progress.warn(line));
      removeStaleSaves(o.out);
      if (hasCheckpoint(o.out)) {
        throw new UsageError(
          `${o.out} already holds a run: continue it with --resume ${o.out}, or choose another --out`,
        );
      }
      clearUncheckpointed(
        o.out,
        progress,
        "holds a run that stopped before its first checkpoint: starting it over",
      );
      state = allocate(prepared);
    }
  } catch (error) {
    lock?.release();
    throw error;
  }
  const { config, modelConfig } = state;
  const start = performance.now();
  const seconds = () => state.elapsedBefore + (performance.now() - start) / 1000;
  const run: Run = Object.assign(state, {
    out: o.out,
    name: o.name ?? config.optimizer,
    metrics,
    progress,
    lossAndGrad: makeRunLossAndGrad(config, modelConfig, () => state.step),
    lossOnly: jit((p: LlamaParams, x: np.Array, y: np.Array) => llamaLoss(p, x, y, modelConfig)),
    schedule: learningRateSchedule(config, peakLearningRate(config)),
    tokensPerStep: config.batchSize * config.seqLen * config.accumulate,
    startStep: state.step,
    savedStep: resumed ? state.step : undefined,
    lock,
    seconds,
    lastLog: { step: state.step, time: seconds() },
    trainLoss: Number.NaN,
    valLoss: Number.NaN,
  });
  if (resumed) progress.log(`resuming ${o.out} at step ${run.step} → ${run.config.steps}`);
  announceRun(run, !resumed);
  return run;
}

/** Free everything the run holds. */
export function closeRun(run: Run): void {
  run.lossAndGrad.dispose();
  run.lossOnly.dispose();
  if ("dispose" in run.sampler) run.sampler.dispose();
  tree.dispose(run.params);
  tree.dispose(run.optState);
  run.lock.release();
}
