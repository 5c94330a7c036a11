/**
 * The `peft` namespace: LoRA-family adapters (LoRA, rsLoRA, DoRA, PiSSA, OLoRA, LoRA-GA, EVA) as
 * PEFT defines them — a config, adapter tensors and a pure (base, adapter) → effective weights
 * that jit and grad go through — plus merge/unmerge and PEFT's adapter folders both ways; any
 * adapter as per-module ΔW (readAdapterDelta), converted to LoRA by truncated SVD (convertAdapter,
 * extractLora from two models) or combined (combineAdapters: cat, linear, svd, ties, dare).
 */

export * from "./browser-safe.js";
export {
  COMBINE_METHODS,
  type CombinedModule,
  type CombineMethod,
  type CombineModuleInput,
  type CombineOptions,
  type CombineSource,
  combineAdapters,
  type DenseInput,
} from "./combine/index.js";
export {
  EVA_DEFAULTS,
  type EvaConfig,
  type InitLoraWeights,
  LORA_GA_DEFAULTS,
  type LoraGaConfig,
  type ParsedConfig,
  SUPPORTED_PEFT_TYPES,
} from "./config.js";
export { convertedConfig, convertToLora } from "./convert.js";
export {
  type AdapterDelta,
  type DeltaModule,
  type DeltaReader,
  deltaTypes,
  type LowRank,
  readAdapterDelta,
  registerDeltaReader,
} from "./delta.js";
export { loraAdapterDelta } from "./delta-lora.js";
export { evaInit } from "./eva.js";
export {
  convertAdapter,
  type ExtractedLora,
  energyRank,
  extractLora,
  type FactoredModule,
  type Factors,
  factorize,
  type LoraFromFactorsOptions,
  loraFromFactors,
  type ModuleReport,
  type RankRule,
} from "./extract.js";
export { loadAdapter, saveAdapter } from "./files.js";
export { estimateGradients, loraGaInit } from "./lora-ga.js";
export { layerIndex, type ModuleSpec, patternKey, rankAndAlpha } from "./match.js";
export { oloraInit } from "./olora.js";
export { pissaInit, pissaIterations } from "./pissa.js";
export {
  ADALORA,
  type AdaloraConfig,
  type AdaloraModule,
  type AdapterTrainer,
  type AdapterType,
  type AnyConfig,
  type AnyLoadedAdapter,
  type AnyPlan,
  adapterMethods,
  adapterTypes,
  anyConfigFromJson,
  anyConfigToJson,
  BONE,
  createTypedAdapter,
  defaultAlpha,
  type FieldSpec,
  findAdapterType,
  IA3,
  type Ia3Config,
  type Ia3Module,
  isLoraConfig,
  LOHA,
  LOKR,
  LORA_METHODS,
  type LohaConfig,
  type LohaModule,
  type LokrConfig,
  type LokrModule,
  loadAnyAdapter,
  MISS,
  type MissConfig,
  type MissModule,
  peftTypes,
  planAny,
  RANDLORA,
  type RandLoraConfig,
  type RandLoraModule,
  type RankMask,
  registerAdapterType,
  saveAnyAdapter,
  type TensorGetter,
  type TypedConfig,
  type TypedModule,
  type TypedPlan,
  type TypeSettings,
  typedConfig,
  typedConfigFromSettings,
  VERA,
  type VeraConfig,
} from "./types/index.js";
