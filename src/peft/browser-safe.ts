/**
 * The part of the `peft` namespace that reaches no `node:` module: LoRA-family configs, adapter
 * creation, the pure (base, adapter) → effective weights, merge/unmerge, and PEFT's file names.
 * The Node index (peft/index.ts) and the browser entry (browser/peft.ts) both re-export it, so
 * the two lists cannot drift apart; what only one of them has stays in its own file.
 */
export {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  type Adapter,
  type LoadedAdapter,
  PEFT_PREFIX,
  shapesOf,
} from "./adapter-bytes.js";
export {
  configFromPeftJson,
  configToPeftJson,
  configToPeftText,
  type LoraConfig,
  type LoraConfigInput,
  loraConfig,
} from "./config.js";
export { doraMagnitude, doraWeight, rowNorm } from "./dora.js";
export {
  type AdapterLossAndGrad,
  type AdapterParams,
  adaptedLoss,
  effectiveParams,
  makeAdapterLossAndGrad,
} from "./effective.js";
export {
  applyResidual,
  type CreateAdapterOptions,
  type CreatedAdapter,
  createAdapter,
  mutatesBase,
} from "./init.js";
export { initLoraFactors, loraDelta } from "./lora.js";
export {
  type AdapterPlan,
  adapterKeys,
  adapterShapes,
  isTargeted,
  planAdapter,
} from "./match.js";
export { disposeMergeState, type MergeState, merge, safeMerge, unmerge } from "./merge.js";
