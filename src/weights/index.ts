/**
 * The `weights` namespace: weight-space tools on whole models — merging with mergekit's YAML,
 * alignment before merging (Git Re-Basin weight matching), pruning with calibration, quantisation
 * (RTN, GPTQ), low-rank compression stored as factors (SVD, FWSVD, WeLore, CUR, LQER, LQ-LoRA),
 * editing by projection (POME, INLP, DAMA, GU unlearning) and export to GGUF for llama.cpp. The
 * CLI's `merge`, `align`, `prune`, `quantize`, `compress`, `edit` and `export` commands are thin
 * layers over these.
 */
export {
  invertPermutation,
  type LayerPermutation,
  type LlamaPermutation,
  linearSumAssignment,
  permuteLlama,
  randomPermutation,
  type WeightMatchingOptions,
  type WeightMatchingResult,
  weightMatching,
} from "./align/index.js";
export {
  CALIBRATION_DEFAULTS,
  type CalibrationSpec,
  calibrationTokens,
} from "./calibration.js";
export {
  COMPRESS_METHODS,
  type CompressCalibration,
  type CompressedLayer,
  type CompressedModel,
  type CompressMethod,
  type CompressModelOptions,
  type CompressSummary,
  compressModel,
  type ForwardTiming,
  forwardTime,
  type LayerContext,
  type LayerFactors,
  type LayerPlan,
  type QuantizedWeight,
  type RankRule,
  saveCompressedModel,
} from "./compress/index.js";
export {
  type DamaLayerInfo,
  type DamaOptions,
  dama,
  damaDefaultLayers,
  type InlpModelOptions,
  type InlpOptions,
  type InlpResult,
  inlp,
  inlpModel,
  linearProbe,
  type NamedArrays,
  nullspaceProjection,
  POME_NORMS,
  POOLS,
  type PomeInfo,
  type PomeNorm,
  type PomeOptions,
  type Pool,
  type Probe,
  pomeDelta,
  pomeParams,
  pooledStates,
  projectNormal,
  retainBasis,
  type StateOptions,
  tokenWindows,
  type UnlearnOptions,
  unlearn,
  type Windows,
} from "./edit/index.js";
export {
  EXPORT_TYPES,
  type ExportType,
  exportGguf,
  type GgufExportResult,
} from "./export/index.js";
export {
  type CalibrationIds,
  type GradientStatistic,
  sumGradientStatistic,
} from "./gradient-statistics.js";
export {
  type CalibrationConfig,
  type MergeConfig,
  parseMergeConfig,
  type Setting,
  type SliceSpec,
  type SourceSpec,
} from "./merge/config.js";
export type {
  MergeInput,
  MergeMethod,
  MergeParam,
  ParamValue,
  StatisticsKind,
} from "./merge/method.js";
export { MERGE_METHODS } from "./merge/methods/index.js";
export { type MergeOptions, type MergeSummary, runMerge } from "./merge/run.js";
export {
  type InputStats,
  PRUNE_METHODS,
  type PruneMethod,
  type PruneModelOptions,
  type PruneSettings,
  type PruneSummary,
  pruneModel,
} from "./prune/index.js";
export {
  QUANT_METHODS,
  type QuantBits,
  type QuantizationConfig,
  type QuantizedFolder,
  type QuantizedMatrix,
  type QuantizedModel,
  type QuantizeModelOptions,
  type QuantizeSettings,
  type QuantizeSummary,
  quantizeModel,
  saveQuantizedModel,
} from "./quantize/index.js";
