/**
 * The browser entry's `peft` namespace: LoRA-family adapters (config, create, the pure
 * (base, adapter) → effective weights that jit and grad go through, merge/unmerge) and PEFT's
 * two adapter files as bytes both ways. Adapter folders on disk are Node-only.
 */
export {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  type Adapter,
  decodeAdapter,
  encodeAdapter,
  type LoadedAdapter,
  PEFT_PREFIX,
  shapesOf,
} from "../peft/adapter-bytes.js";
export {
  configFromPeftJson,
  configToPeftJson,
  configToPeftText,
  type LoraConfig,
  type LoraConfigInput,
  loraConfig,
} from "../peft/config.js";
export { doraMagnitude, doraWeight, rowNorm } from "../peft/dora.js";
export {
  type AdapterLossAndGrad,
  type AdapterParams,
  adaptedLoss,
  effectiveParams,
  makeAdapterLossAndGrad,
} from "../peft/effective.js";
export {
  applyResidual,
  type CreateAdapterOptions,
  type CreatedAdapter,
  createAdapter,
  mutatesBase,
} from "../peft/init.js";
export { initLoraFactors, loraDelta } from "../peft/lora.js";
export {
  type AdapterPlan,
  adapterKeys,
  adapterShapes,
  isTargeted,
  planAdapter,
} from "../peft/match.js";
export { disposeMergeState, type MergeState, merge, safeMerge, unmerge } from "../peft/merge.js";
