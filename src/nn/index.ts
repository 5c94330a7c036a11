/**
 * The `nn` namespace of the public API. Models: a LLaMA-style decoder (Hugging Face names), an
 * MLP classifier, losses, and saving/loading Hugging Face model folders.
 */

export * from "./browser-safe.js";
export { type IdinitOptions, idinit, idinitDecoder, paddedIdentity } from "./init/idinit.js";
export { sddLinear, sddScale } from "./init/sdd.js";
export type { CaptureInputs, LinearProduct } from "./llama.js";
export {
  drwClassWeights,
  focalLoss,
  type LdamOptions,
  ldamLoss,
  ldamMargins,
  rowCrossEntropy,
} from "./loss.js";
export { densifyLowRank, lowRankRanks } from "./low-rank.js";
export {
  applyAdapter,
  type OpenedModel,
  type OpenModelOptions,
  openModel,
} from "./open-model.js";
export { loadModel, type ModelConfig, type Pretrained, saveModel } from "./pretrained.js";
export { randomizedLinear } from "./randomized-linear.js";
export { addNormLossGradient, normLoss } from "./regularizers/norm-loss.js";
export {
  type SpectralRegularizationOptions,
  type SpectralState,
  spectralRegularization,
} from "./regularizers/spectral.js";
export {
  type WeightNormParams,
  weightNormApply,
  weightNormSplit,
} from "./regularizers/weight-norm.js";
export { densifySparse, withoutSltrain, withSltrain } from "./sparse-model.js";
