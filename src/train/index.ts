/**
 * The `train` namespace of the public API: the training loop as a library (`train.train`, what
 * the CLI runs), its configuration, checkpoints, metrics, text sampling, the gradient-spike
 * monitor and the HTML report. The loop's internals (run state, steps, resume checks) stay inside.
 */
export { renderReport } from "../report/html.js";
export { writeReport } from "../report/index.js";
export type {
  EvalRow,
  MetricRow,
  ReportOptions,
  RunData,
  SampleRow,
  TrainRow,
} from "../report/types.js";
export { type Checkpoint, loadCheckpoint, type TrainerMeta } from "./checkpoint.js";
export {
  DEFAULT_CONFIG,
  readConfigFile,
  SCHEDULES,
  type ScheduleName,
  type TrainConfig,
  validateConfig,
} from "./config.js";
export {
  type DataScores,
  el2nScores,
  makeScorer,
  readDataScores,
  SCORE_METHODS,
  type ScoreMethod,
  type Scorer,
  scoreWindows,
  topWindows,
} from "./data-scores.js";
export { DivergedError } from "./diverged.js";
export { type SampleOptions, sampleText } from "./generate.js";
export {
  type GradNormOptions,
  type GradNormState,
  type GradNormStep,
  type Grads,
  gradNormInit,
  gradNormStep,
  sharedGradNorms,
  weightedGrads,
} from "./gradnorm.js";
export { readMetrics } from "./metrics.js";
export { DGA_DEFAULTS, dgaUpdate } from "./mixing/dga.js";
export { DOREMI_DEFAULTS, type DoremiState, doremiInit, doremiUpdate } from "./mixing/doremi.js";
export { ODM_DEFAULTS, type OdmState, odmInit, odmPolicy, odmUpdate } from "./mixing/odm.js";
export { MIXING_RULES, type MixingRule, type MixingSpec, parseMixing } from "./mixing/spec.js";
export {
  GradientSpikeMonitor,
  type SpikeMetrics,
  type SpikeMonitorOptions,
} from "./monitors/spike-monitor.js";
export { buildOptimizer, type RunOptimizer } from "./optimizer.js";
export { LOSS_RULES, type LossRule, lossWeights } from "./reweight/loss-weights.js";
export { parseReweight, type ReweightSpec } from "./reweight/spec.js";
export { makeTrainLossAndGrad, reweightedLoss } from "./reweight/train-loss.js";
export { type TrainOptions, type TrainResult, train } from "./trainer.js";
