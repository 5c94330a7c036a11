/**
 * Adapter types beyond LoRA (IA³, LoHa, LoKr, ...) and the registry that makes each one a single
 * file: see ./registry.ts for how to add one.
 */

export { ADALORA, type AdaloraConfig, type AdaloraModule, type RankMask } from "./adalora.js";
export {
  type AnyConfig,
  type AnyLoadedAdapter,
  type AnyPlan,
  adapterMethods,
  anyConfigFromJson,
  anyConfigToJson,
  createTypedAdapter,
  defaultAlpha,
  isLoraConfig,
  loadAnyAdapter,
  planAny,
  readAdapterJson,
  saveAnyAdapter,
  typedConfigFromSettings,
  typeOfConfig,
} from "./any.js";
export {
  initTyped,
  isTypedPlan,
  planTyped,
  type TypedPlan,
  typedDelta,
  typedEffective,
  typedMerge,
  typedShapes,
  typedUnmerge,
} from "./apply.js";
export { typedConfig, typedConfigFromJson, typedConfigToJson } from "./config.js";
export {
  type LoadedTypedAdapter,
  loadTypedAdapter,
  saveTypedAdapter,
  typedAdapterDelta,
  typedDeltaReader,
} from "./files.js";
export { IA3, type Ia3Config, type Ia3Module, isFeedforward } from "./ia3.js";
export { LOHA, type LohaConfig, type LohaModule } from "./loha.js";
export { factorization, kron, LOKR, type LokrConfig, type LokrModule } from "./lokr.js";
export { LORA_METHODS, LORA_PEFT_TYPE } from "./lora.js";
export { BONE, MISS, type MissConfig, type MissModule } from "./miss.js";
export { RANDLORA, type RandLoraConfig, type RandLoraModule } from "./randlora.js";
export {
  type AdapterTrainer,
  type AdapterType,
  adapterType,
  adapterTypes,
  type FieldSpec,
  findAdapterType,
  peftTypes,
  registerAdapterType,
  type TensorGetter,
  type TypedConfig,
  type TypedModule,
  type TypeSettings,
  typeOfMethod,
} from "./registry.js";
export { VERA, type VeraConfig } from "./vera.js";
