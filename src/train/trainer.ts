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
import { BatchSampler } from "../data/sampler.js";
import * as tree from "../engine/tree.js";
import { initLlama, type LlamaParams, llamaLoss, makeLossAndGrad } from "../nn/llama.js";
import { type LlamaConfig, type LlamaPreset, llamaPreset } from "../nn/llama-config.js";
import type { GradientTransformation } from "../optim/core.js";
import { globalNormOf } from "../optim/transforms/clip.js";
import { writeReport } from "../report/index.js";
import { hasCheckpoint, loadCheckpoint, newMeta, saveCheckpoint } from "./checkpoint.js";
import { type TrainConfig, UsageError } from "./config.js";
import { sampleText } from "./generate.js";
import { learningRateSchedule } from "./lr.js";
import { MetricsLog } from "./metrics.js";
import { GradientSpikeMonitor } from "./monitors/spike-monitor.js";
import { buildOptimizer, ownState, peakLearningRate } from "./optimizer.js";
import { Progress } from "./progress.js";
import { getOptimizer } from "./registry.js";
import { checkResumable, checkStateMatches } from "./resume.js";
import { type Data, evaluate, loadData, scalar } from "./run-data.js";

export { buildOptimizer, peakLearningRate } from "./optimizer.js";
export { checkResumable } from "./resume.js";

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
  /** Transforms each micro-batch's gradients before the optimizer sees them (consumes and
   *  returns a tree), e.g. to inject gradient spikes in a benchmark. */
  gradientHook?: (grads: LlamaParams, step: number) => LlamaParams;
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
    modelConfig = ck.modelConfig;
    params = ck.params;
    optState = ck.optState;
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
    opt = buildOptimizer(config);
    // Only once the configuration has proved usable: refuse to overwrite, then allocate.
    if (existsSync(metrics.path) || hasCheckpoint(out)) {
      throw new UsageError(
        `${out} already holds a run: continue it with --resume ${out}, or choose another --out`,
      );
    }
    params = initLlama(modelConfig, config.seed);
    optState = opt.init(tree.share(params));
    sampler = new BatchSampler(data.train, {
      batchSize: config.batchSize,
      seqLen: config.seqLen,
      seed: config.seed,
    });
    mkdirSync(out, { recursive: true });
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
        const [loss, rawGrads] = lossAndGrad(tree.share(params), batch.inputs, batch.targets);
        const grads = o.gradientHook ? o.gradientHook(rawGrads, step + 1) : rawGrads;
        if (micro === config.accumulate - 1)
          gradNorm = await scalar(globalNormOf(tree.share(grads)));
        const [updates, next] = opt.update(grads, optState, tree.share(params));
        optState = next;
        params = tree.mapWithPath(
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
