/**
 * Low-rank compression methods by name (one file each) and the model-level driver.
 * `rankwise compress` and the library both go through {@link compressModel}.
 */
export {
  type CompressedLayer,
  type CompressedModel,
  type CompressModelOptions,
  type CompressSummary,
  compressModel,
} from "./compress-model.js";
export type { CompressCalibration } from "./fisher.js";
export { saveCompressedModel } from "./folder.js";
export { type ForwardTiming, forwardTime, modelBytes } from "./measure.js";
export { COMPRESS_METHODS } from "./methods.js";
export { checkRule, ruleRank, savesBytes } from "./rank.js";
export type {
  CompressMethod,
  LayerContext,
  LayerFactors,
  LayerPlan,
  QuantizedWeight,
  RankRule,
} from "./types.js";
