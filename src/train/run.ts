/**
 * A training run in progress: the state the loop's pieces (run-open, run-step, run-log,
 * run-eval, run-checkpoint, run-finish) read and update, and the options and result of `train`.
 * Arrays held here (parameters, optimizer state) are owned by the run until `closeRun`.
 */
import type { numpy as np } from "@jax-js/jax";
import type { BatchSampler } from "../data/sampler.js";
import type { Tree } from "../engine/tree.js";
import type { Lock } from "../io/lock.js";
import type { LlamaParams } from "../nn/llama.js";
import type { LlamaConfig } from "../nn/llama-config.js";
import type { LossAndGrad } from "../nn/loss.js";
import type { Schedule } from "../optim/core.js";
import type { TrainerMeta } from "./checkpoint.js";
import type { TrainConfig } from "./config.js";
import type { MetricsLog } from "./metrics.js";
import type { Mixer } from "./mixing/mixer.js";
import type { GradientSpikeMonitor } from "./monitors/spike-monitor.js";
import type { RunOptimizer } from "./optimizer.js";
import type { Progress } from "./progress.js";
import type { Data } from "./run-data.js";

/** Options of {@link train}. */
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

/** What {@link train} returns: the last step, losses, sample and optimizer-state size. */
export interface TrainResult {
  out: string;
  step: number;
  trainLoss: number;
  valLoss: number;
  sample: string;
  /** The text the sample continues (the start of the validation text). */
  prompt?: string;
  /** Final validation loss in bits per character of text (what the eval rows record). */
  bitsPerChar?: number;
  interrupted: boolean;
  stateBytes: number;
  elapsed: number;
}

/** What opening a run (fresh or resumed) yields: the state that decides the next step. */
export interface RunState {
  config: TrainConfig;
  modelConfig: LlamaConfig;
  data: Data;
  opt: RunOptimizer;
  params: LlamaParams;
  optState: Tree<any>;
  /** One stream, or with several domains a Mixer (mixing/mixer.ts). */
  sampler: BatchSampler | Mixer;
  spikes: GradientSpikeMonitor;
  step: number;
  /** Steps skipped so far (non-finite loss, gradient or update), and how many in a row up to
   *  now (the run stops as diverged when this reaches `config.maxBadSteps`). */
  skippedSteps: number;
  badSteps: number;
  /** Training seconds before this process took over (0 for a fresh run). */
  elapsedBefore: number;
}

export interface Run extends RunState {
  readonly out: string;
  readonly name: string;
  readonly metrics: MetricsLog;
  /** The folder's lock, held until `closeRun`. */
  readonly lock: Lock;
  readonly progress: Progress;
  readonly lossAndGrad: LossAndGrad<LlamaParams>;
  readonly lossOnly: ((p: LlamaParams, x: np.Array, y: np.Array) => np.Array) & {
    dispose(): void;
  };
  readonly schedule: Schedule;
  readonly tokensPerStep: number;
  /** The step this process started from. */
  readonly startStep: number;
  /** Training seconds so far, including those before a resume. */
  seconds(): number;
  lastLog: { step: number; time: number };
  /** Step of the folder's latest checkpoint (undefined before the first). */
  savedStep?: number;
  trainLoss: number;
  valLoss: number;
  /** A fine-tuning run (finetune.ts): `params` is the adapter over a frozen base, so checkpoints
   *  and the sample go through these instead of the model folder. */
  readonly adapted?: AdaptedRun;
}

/** How a fine-tuning run saves itself and builds its model (see finetune.ts). */
export interface AdaptedRun {
  /** Write the checkpoint (adapter, optimizer state, base reference) with `meta`. */
  save(run: Run, meta: TrainerMeta): Promise<void>;
  /** The adapted model's parameters, new arrays the caller disposes. */
  modelParams(run: Run): LlamaParams;
}
