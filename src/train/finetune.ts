/**
 * Fine-tuning: train an adapter (LoRA, DoRA, PiSSA, OLoRA, LoRA-GA, EVA, or any registered
 * type of src/peft/types/: IA3, LoHa, LoKr, ...) over a frozen base
 * model with the trainer of `train` (run-step, run-log, run-eval, run-finish and trainer.ts's
 * loop), checkpoints, resume, signals and divergence handling included.
 *
 * Rule: the trainable tree is the adapter only — the optimizer is built on it, and the loss
 * goes through effectiveParams(base, adapter) with the base as a frozen argument, so the base
 * has neither gradient nor optimizer state. A fresh run evaluates the base once before training
 * (an eval row at step 0 and `baseValLoss` in the start row). Checkpoints hold the adapter, its
 * optimizer state, trainer state and the base's path and SHA-256s (finetune-checkpoint.ts); a
 * resume checks the base's files first, then continues bit for bit. `<out>/adapter/` is the PEFT
 * folder.
 *
 * Deviations: LoRA-GA's gradient is averaged over 4 batches drawn with seed + 1 (PEFT leaves
 * the batches to the user); EVA's layer inputs come from 4 such batches too (finetune-eva.ts).
 */

import { existsSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { jit, type numpy as np } from "@jax-js/jax";
import { loadCorpus } from "../data/corpus.js";
import { BatchSampler } from "../data/sampler.js";
import { UsageError } from "../engine/errors.js";
import * as tree from "../engine/tree.js";
import { acquireLock, type Lock } from "../io/lock.js";
import { ensureOutputDir, removeCreated } from "../io/output-dir.js";
import { type LlamaParams, llamaLoss, llamaParamCount } from "../nn/llama.js";
import {
  type AdapterParams,
  type AnyPlan,
  adaptedLoss,
  applyResidual,
  createAdapter,
  createTypedAdapter,
  effectiveParams,
  estimateGradients,
  isLoraConfig,
  makeAdapterLossAndGrad,
  planAdapter,
  planAny,
  shapesOf,
  type TypedPlan,
} from "../peft/index.js";
import { isTypedPlan, trainedSize } from "../peft/types/apply.js";
import { baseReference, checkBaseReference, type OpenedModel, openBase } from "./adapted-model.js";
import { hasCheckpoint, readTrainerMeta, removeStaleSaves } from "./checkpoint.js";
import {
  type AdapterState,
  loadAdapterCheckpoint,
  saveAdapterCheckpoint,
} from "./finetune-checkpoint.js";
import { adapterConfig, checkFinetuneResumable, type FinetuneConfig } from "./finetune-config.js";
import { evaLayerInputs } from "./finetune-eva.js";
import { learningRateSchedule } from "./lr.js";
import { MetricsLog } from "./metrics.js";
import { GradientSpikeMonitor } from "./monitors/spike-monitor.js";
import { buildOptimizer, peakLearningRate, type RunOptimizer } from "./optimizer.js";
import { Progress } from "./progress.js";
import { checkResumable, checkStateMatches } from "./resume.js";
import type { Run, RunState, TrainOptions, TrainResult } from "./run.js";
import { resolvedOptimizerOptions } from "./run-announce.js";
import { type Data, evaluate, loadData } from "./run-data.js";
import { finishRun } from "./run-finish.js";
import { closeRun, freshState, pinDecayHorizon } from "./run-open.js";
import { loop } from "./trainer.js";

/** Options of {@link finetune}: those of `train`, with a fine-tuning configuration. */
export interface FinetuneOptions extends TrainOptions {
  config: FinetuneConfig;
}

/** What {@link finetune} returns: `train`'s result plus the adapter's size. */
export interface FinetuneResult extends TrainResult {
  trainableParameters: number;
  baseParameters: number;
}

/** Batches LoRA-GA and EVA look at before training. */
const INIT_BATCHES = 4;

/** The fine-tuning run's own arrays, beside the Run's adapter and optimizer state. */
interface Frozen {
  /** The base the adapter trains over (the residual base for PiSSA/OLoRA/LoRA-GA). */
  base: LlamaParams;
  adapter: Omit<AdapterState, "params" | "optState">;
}

/** Open the base with the run's tokenizer (--tokenizer, else the base's own). */
function openRunBase(spec: string, config: FinetuneConfig): Promise<OpenedModel> {
  const flag = config.finetune.tokenizer;
  let text: string | undefined;
  if (flag === "char") {
    try {
      text = loadCorpus(config.data).text;
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  return openBase(spec, { tokenizer: flag, text });
}

/** Data for the run, checked against the base model's context (openModel checks the vocabulary). */
function runData(config: FinetuneConfig, opened: OpenedModel, json: unknown): Data {
  const data = loadData(config, json, "base");
  const maxPos = opened.config.max_position_embeddings;
  if (config.seqLen > maxPos)
    throw new UsageError(
      `--seq-len must be ≤ the base model's context (${maxPos}), got ${config.seqLen}`,
    );
  return data;
}

/** Draw the batches LoRA-GA and EVA use (their own sampler: training's data order is kept). */
function initBatches(data: Data, config: FinetuneConfig) {
  const sampler = new BatchSampler(data.train, {
    batchSize: config.batchSize,
    seqLen: config.seqLen,
    seed: config.seed + 1,
  });
  return Array.from({ length: INIT_BATCHES }, () => sampler.next());
}

/** A new adapter for the opened base. Consumes `opened.params` into the returned base. */
function newAdapter(
  config: FinetuneConfig,
  opened: OpenedModel,
  data: Data,
): { frozen: Frozen; params: AdapterParams } {
  const base = opened.params;
  const anyCfg = adapterConfig(config.finetune);
  if (!isLoraConfig(anyCfg)) {
    // A registered adapter type (IA3, LoHa, LoKr, ...): seeded init, the base unchanged; types
    // initialised from the loss gradient (LoRA-SB) get it as LoRA-GA does.
    const plan = planAny(anyCfg, shapesOf(base)) as TypedPlan;
    const gradients = plan.type.gradientInit
      ? estimateGradients(base, opened.config, plan, initBatches(data, config))
      : undefined;
    let made: ReturnType<typeof createTypedAdapter>;
    try {
      made = createTypedAdapter(base, anyCfg, config.seed, gradients);
    } finally {
      tree.dispose(gradients ?? {});
    }
    return {
      frozen: {
        base,
        adapter: { config: made.config, plan: made.plan, residual: null, initial: null },
      },
      params: made.params,
    };
  }
  const loraCfg = anyCfg;
  const options: Parameters<typeof createAdapter>[2] = { seed: config.seed };
  const method = config.finetune.method;
  if (method === "lora-ga") {
    const plan = planAdapter(loraCfg, shapesOf(base));
    options.gradients = estimateGradients(base, opened.config, plan, initBatches(data, config));
  } else if (method === "eva") {
    options.layerInputs = evaLayerInputs(base, opened.config, loraCfg, initBatches(data, config));
  }
  let made: ReturnType<typeof createAdapter>;
  try {
    made = createAdapter(base, loraCfg, options);
  } finally {
    tree.dispose([options.gradients ?? {}, options.layerInputs ?? {}]);
  }
  const hasResidual = Object.keys(made.residual).length > 0;
  const trainBase = hasResidual ? applyResidual(base, tree.share(made.residual)) : base;
  if (!hasResidual) tree.dispose([made.residual, made.initial ?? {}]);
  return {
    frozen: {
      base: trainBase,
      adapter: {
        config: made.config,
        plan: made.plan,
        residual: hasResidual ? made.residual : null,
        initial: hasResidual ? made.initial : null,
      },
    },
    params: made.params,
  };
}

/** Drop what a run that stopped before its first checkpoint left (the lock is held). */
function clearUncheckpointed(out: string, progress: Progress, why: string): void {
  const left = ["metrics.jsonl", "report.html"].filter((f) => existsSync(join(out, f)));
  if (left.length === 0) return;
  progress.warn(`${out} ${why}`);
  for (const f of left) rmSync(join(out, f), { force: true });
}

/** Validation loss of the base itself, before any training. Borrows `base`. */
async function baseValLoss(opened: OpenedModel, data: Data, config: FinetuneConfig) {
  const fn = jit((p: LlamaParams, x: np.Array, y: np.Array) => llamaLoss(p, x, y, opened.config));
  try {
    return await evaluate(fn, opened.params, data, config);
  } finally {
    fn.dispose();
  }
}

interface Opened {
  state: RunState;
  frozen: Frozen;
  fresh: boolean;
  baseLoss?: number;
}

/** The run's optimizer; an adapter type with a trainer hook (AdaLoRA's allocator) wraps it. */
function adapterOptimizer(config: FinetuneConfig, shapes: Record<string, number[]>): RunOptimizer {
  const opt = buildOptimizer(config);
  const plan = planAny(adapterConfig(config.finetune), shapes);
  if (!("type" in plan) || plan.type.trainer === undefined) return opt;
  const run = { steps: config.steps, accumulate: config.accumulate };
  const wrapped = plan.type.trainer(plan.config, plan.modules, run).wrap(opt);
  return { ...wrapped, optimizerState: (s: { inner: unknown }) => opt.optimizerState(s.inner) };
}

async function openFresh(o: FinetuneOptions, before: () => void): Promise<Opened> {
  let config = pinDecayHorizon(o.config);
  const opened = await openRunBase(config.model, config);
  try {
    const data = runData(config, opened, opened.tokenizer.toJSON());
    const base = await baseReference(config.model, opened);
    config = {
      ...config,
      tokenizer: data.tokenizer.type as FinetuneConfig["tokenizer"],
      finetune: { ...config.finetune, base },
    };
    const opt = adapterOptimizer(config, shapesOf(opened.params));
    planAny(adapterConfig(config.finetune), shapesOf(opened.params)); // --target, --rank
    before(); // claim the folder only now that everything checked out
    const baseLoss = await baseValLoss(opened, data, config);
    const { frozen, params } = newAdapter(config, opened, data);
    const state = freshState(config, opened.config, data, opt, params);
    return { state, frozen, fresh: true, baseLoss };
  } catch (error) {
    tree.dispose(opened.params);
    throw error;
  }
}

async function openResumed(o: FinetuneOptions, metrics: MetricsLog): Promise<Opened> {
  const meta = readTrainerMeta(o.out);
  if (!meta) throw new UsageError(`corrupt checkpoint in ${o.out}: trainer.json cannot be read`);
  const saved = meta.config as FinetuneConfig;
  if (saved.finetune?.base === undefined)
    throw new UsageError(
      `cannot resume: ${o.out} is not a fine-tuning run (use rankwise train --resume)`,
    );
  let config: FinetuneConfig =
    o.config.decaySteps === undefined && saved.decaySteps !== undefined
      ? { ...o.config, decaySteps: saved.decaySteps }
      : o.config;
  config = {
    ...config,
    tokenizer: saved.tokenizer,
    finetune: { ...config.finetune, base: saved.finetune.base },
  };
  checkResumable(saved, config, meta.step);
  checkFinetuneResumable(saved.finetune, config.finetune);
  await checkBaseReference(saved.finetune.base);
  const opened = await openRunBase(saved.finetune.base.path, config);
  let s: AdapterState | undefined;
  try {
    s = await loadAdapterCheckpoint(o.out, shapesOf(opened.params));
    const data = runData(config, opened, meta.tokenizer);
    const opt = adapterOptimizer(config, shapesOf(opened.params));
    const fresh = opt.init(tree.share(s.params));
    try {
      checkStateMatches(fresh, s.optState, config.optimizer);
    } finally {
      tree.dispose(fresh);
    }
    metrics.truncateAfter(meta.step);
    const base = s.residual ? applyResidual(opened.params, tree.share(s.residual)) : opened.params;
    const sampler = BatchSampler.restore(
      data.train,
      { batchSize: config.batchSize, seqLen: config.seqLen },
      meta.sampler,
    );
    const spikes = new GradientSpikeMonitor();
    if (meta.spikes) spikes.restore(meta.spikes);
    return {
      state: {
        config,
        modelConfig: opened.config,
        data,
        opt,
        params: s.params,
        optState: s.optState,
        sampler,
        spikes,
        step: meta.step,
        skippedSteps: meta.skippedSteps ?? 0,
        badSteps: meta.badSteps ?? 0,
        elapsedBefore: meta.elapsed,
      },
      frozen: {
        base,
        adapter: { config: s.config, plan: s.plan, residual: s.residual, initial: s.initial },
      },
      fresh: false,
    };
  } catch (error) {
    tree.dispose(opened.params);
    if (s) tree.dispose([s.params, s.optState, s.residual ?? {}, s.initial ?? {}]);
    throw error;
  }
}

/** Open the fine-tuning run `o` describes, holding the folder's lock (as openRun does). */
async function openFinetune(o: FinetuneOptions): Promise<{ run: Run; frozen: Frozen }> {
  const progress = new Progress(process.stderr, o.quiet);
  const metrics = new MetricsLog(join(o.out, "metrics.jsonl"));
  let lock: Lock | undefined;
  let created: string[] = [];
  let opened: Opened;
  const claim = (why: string) => {
    clearUncheckpointed(o.out, progress, why);
  };
  try {
    if (o.resume) {
      if (!statSync(o.out, { throwIfNoEntry: false })?.isDirectory())
        throw new UsageError(`cannot resume: no run folder ${o.out}`);
      lock = acquireLock(o.out, o.out, (line) => progress.warn(line));
      removeStaleSaves(o.out);
      opened = hasCheckpoint(o.out)
        ? await openResumed(o, metrics)
        : await openFresh(o, () =>
            claim("has no checkpoint yet: starting the run again from step 0"),
          );
    } else {
      opened = await openFresh(o, () => {
        created = ensureOutputDir(o.out);
        lock = acquireLock(o.out, o.out, (line) => progress.warn(line));
        removeStaleSaves(o.out);
        if (hasCheckpoint(o.out)) {
          throw new UsageError(
            `${o.out} already holds a run: continue it with --resume ${o.out}, or choose another --out`,
          );
        }
        claim("holds a run that stopped before its first checkpoint: starting it over");
      });
    }
  } catch (error) {
    lock?.release();
    removeCreated(created); // a refused run leaves no new folder behind
    throw error;
  }
  const { state, frozen } = opened;
  const { modelConfig } = state;
  const config = state.config as FinetuneConfig;
  const plan = frozen.adapter.plan;
  const inner = makeAdapterLossAndGrad(plan, modelConfig);
  const evalFn = jit((a: AdapterParams, b: LlamaParams, x: np.Array, y: np.Array) =>
    adaptedLoss(a, b, x, y, plan, modelConfig),
  );
  const start = performance.now();
  const seconds = () => state.elapsedBefore + (performance.now() - start) / 1000;
  const run: Run = Object.assign(state, {
    out: o.out,
    name: o.name ?? `${config.finetune.method} r${config.finetune.rank} ${config.optimizer}`,
    metrics,
    progress,
    lossAndGrad: Object.assign(
      (a: AdapterParams, x: np.Array, y: np.Array) => inner(a, tree.share(frozen.base), x, y),
      { dispose: () => inner.dispose() },
    ),
    lossOnly: Object.assign(
      (a: AdapterParams, x: np.Array, y: np.Array) => evalFn(a, tree.share(frozen.base), x, y),
      { dispose: () => evalFn.dispose() },
    ),
    schedule: learningRateSchedule(config, peakLearningRate(config)),
    tokensPerStep: config.batchSize * config.seqLen * config.accumulate,
    startStep: state.step,
    savedStep: opened.fresh ? undefined : state.step,
    lock: lock as unknown as Lock,
    seconds,
    lastLog: { step: state.step, time: seconds() },
    trainLoss: Number.NaN,
    valLoss: Number.NaN,
    adapted: {
      save: async (r: Run, meta: Parameters<typeof saveAdapterCheckpoint>[1]) => {
        await saveAdapterCheckpoint(r.out, meta, {
          ...frozen.adapter,
          params: r.params,
          optState: r.optState,
        });
        const bytes = statSync(join(r.out, "adapter", "adapter_model.safetensors")).size;
        r.metrics.append({ type: "adapter", step: r.step, bytes, dir: join(r.out, "adapter") });
      },
      modelParams: (r: Run) => effectiveParams(tree.share(frozen.base), tree.share(r.params), plan),
    },
  });
  announce(run, frozen, opened);
  return { run, frozen };
}

/** Trainable and base parameter counts (a type's frozen tensors are not trainable). */
function counts(run: Run, plan: AnyPlan): { trainable: number; base: number } {
  const trainable = isTypedPlan(plan)
    ? trainedSize(plan.type, run.params as Record<string, np.Array>)
    : tree.size(run.params);
  return { trainable, base: llamaParamCount(run.modelConfig) };
}

/** The start line; on a fresh run the start row (with the base's loss) and the step-0 eval row. */
function announce(run: Run, frozen: Frozen, opened: Opened): void {
  const config = run.config as FinetuneConfig;
  const { trainable, base } = counts(run, frozen.adapter.plan);
  const share = trainable / base;
  const s = config.finetune;
  const lr = peakLearningRate(config);
  if (opened.fresh) {
    const baseLoss = opened.baseLoss ?? Number.NaN;
    run.metrics.append({
      type: "start",
      step: 0,
      model: config.model,
      parameters: base,
      optimizer: config.optimizer,
      learningRate: lr,
      learningRateSource: config.lr === undefined ? "the optimizer's default" : "--lr",
      optimizerOptions: resolvedOptimizerOptions(config),
      data: config.data,
      trainTokens: run.data.train.length,
      valTokens: run.data.val.length,
      vocabSize: run.data.tokenizer.vocabSize,
      tokensPerStep: run.tokensPerStep,
      out: run.out,
      adapter: s.method,
      rank: s.rank,
      alpha: s.alpha,
      targetModules: frozen.adapter.plan.modules.map((m) => m.name),
      trainableParameters: trainable,
      baseParameters: base,
      trainableShare: share,
      baseValLoss: baseLoss,
      config: { ...config },
    });
    run.metrics.append({
      type: "eval",
      step: 0,
      elapsed: 0,
      valLoss: baseLoss,
      perplexity: Math.exp(baseLoss),
      bitsPerChar: (baseLoss / Math.LN2) * run.data.tokensPerChar,
      base: true,
    });
  }
  run.progress.log(
    `${opened.fresh ? "fine-tuning" : "continuing"} ${config.model} (${base.toLocaleString("en-US")} parameters, frozen) with a ${s.method} adapter${typeof frozen.adapter.config.r === "number" ? ` of rank ${s.rank}` : ""} on ${frozen.adapter.plan.modules.length} modules (${trainable.toLocaleString("en-US")} trainable, ${(100 * share).toPrecision(3)}%) with ${config.optimizer} at learning rate ${lr} on ${config.data} in ${run.out}${opened.baseLoss === undefined ? "" : `; base validation loss ${opened.baseLoss.toFixed(4)}`}`,
  );
}

/**
 * Fine-tune as the CLI does: a fresh run in `out`, or with `resume` the continuation of its
 * checkpoint (bit for bit as if never stopped). Writes metrics.jsonl, checkpoints, `adapter/`
 * and report.html there.
 */
export async function finetune(o: FinetuneOptions): Promise<FinetuneResult> {
  const { run, frozen } = await openFinetune(o);
  try {
    const interrupted = await loop(run, o);
    const result = await finishRun(run, interrupted);
    const { trainable, base } = counts(run, frozen.adapter.plan);
    return { ...result, trainableParameters: trainable, baseParameters: base };
  } finally {
    closeRun(run);
    tree.dispose([frozen.base, frozen.adapter.residual ?? {}, frozen.adapter.initial ?? {}]);
  }
}
