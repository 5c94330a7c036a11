/**
 * The `transforms` namespace of the public API: every gradient-transformation primitive the named
 * optimizers are chained from, for building your own (optax's transforms). The most used ones are
 * also top-level exports. An explicit list: helpers the primitives share stay internal.
 */
export { identity, stateless, statelessWithParams } from "../core.js";
export { type EmaState, paramEma } from "../ema.js";
export { type HyperparamsState, injectHyperparams } from "../hyperparams.js";
export { type AdemamixState, scaleByAdemamix } from "../optimizers/ademamix.js";
export { type AsgoState, type ScaleByAsgoOptions, scaleByAsgo } from "../optimizers/asgo.js";
export {
  type CosmosState,
  type ScaleByCosmosOptions,
  scaleByCosmos,
} from "../optimizers/cosmos.js";
export { type DiffgradState, scaleByDiffgrad } from "../optimizers/diffgrad.js";
export { type GwtState, scaleByGwt } from "../optimizers/gwt.js";
export { scaleByLion } from "../optimizers/lion.js";
export { type MarsState, scaleByMars } from "../optimizers/mars.js";
export {
  type MuonScaling,
  type MuonState,
  type ScaleByMuonOptions,
  scaleByMuon,
} from "../optimizers/muon.js";
export {
  type PsgdKronState,
  type ScaleByPsgdKronOptions,
  scaleByPsgdKron,
} from "../optimizers/psgd-kron.js";
export {
  type ScaleByShampooOptions,
  type ShampooGraft,
  type ShampooState,
  scaleByShampoo,
} from "../optimizers/shampoo.js";
export { type AccumulateState, accumulateGradients } from "./accumulate.js";
export { scaleByAdagrad } from "./adagrad.js";
export { type AdamState, type ScaleByAdamOptions, scaleByAdam } from "./adam.js";
export { type ScaleByAdamEpsHatOptions, scaleByAdamEpsHat } from "./adam-eps-hat.js";
export { adaptiveGradClip } from "./agc.js";
export { blocked } from "./blocked.js";
export { type CautiousOptions, cautious } from "./cautious.js";
export { cautiousWeightDecay } from "./cautious-weight-decay.js";
export { centralize } from "./centralize.js";
export { clipByGlobalNorm, clipByValue, globalNorm } from "./clip.js";
export type { DynamicQuantized } from "./dynamic-map.js";
export { type GradesOptions, type GradesState, grades } from "./grades.js";
export { type GrokfastState, grokfastEma } from "./grokfast.js";
export { type Int8WeightsOptions, type Int8WeightsState, int8Weights } from "./int8-weights.js";
export { type MarsCorrectionState, marsCorrection } from "./mars-correction.js";
export { hiddenMatrices, matrixOrFallback } from "./matrix-partition.js";
export {
  dynamicMoments,
  int8Moments,
  type MomentCodec,
  type MomentKind,
  withMomentCodec,
} from "./moment-codec.js";
export { type AdaGNState, adaGN, type NormStabilizerOptions } from "./norm-stabilizer.js";
export { type PowerSgdOptions, type PowerSgdState, powerSgd } from "./powersgd.js";
export { type RmsState, scaleByRms } from "./rms.js";
export { type CountState, scale, scaleByLearningRate, scaleBySchedule } from "./scale.js";
export { scaleBySign } from "./sign.js";
export { type SkipState, skipNonFinite } from "./skip-nonfinite.js";
export { type AdaClipState, adaClip } from "./spike-clip.js";
export { type TraceState, trace } from "./trace.js";
export { addDecayedWeights, decayAfterStep, matricesOnly } from "./weight-decay.js";
