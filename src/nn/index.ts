/**
 * The `nn` namespace of the public API. Models: a LLaMA-style decoder (Hugging Face names), an
 * MLP classifier, losses, and saving/loading Hugging Face model folders.
 */

export { type IdinitOptions, idinit, idinitDecoder, paddedIdentity } from "./init/idinit.js";
export { sddLinear, sddScale } from "./init/sdd.js";
export {
  type CaptureInputs,
  initLlama,
  type LlamaParams,
  llamaForward,
  llamaLoss,
  llamaParamCount,
  llamaParamShapes,
  makeLossAndGrad,
} from "./llama.js";
export {
  fromHfConfig,
  LLAMA_PRESETS,
  type LlamaConfig,
  type LlamaConfigInput,
  type LlamaPreset,
  llamaConfig,
  llamaPreset,
  toHfConfig,
} from "./llama-config.js";
export {
  accuracy,
  crossEntropy,
  drwClassWeights,
  focalLoss,
  type LdamOptions,
  type LossAndGrad,
  ldamLoss,
  ldamMargins,
  rowCrossEntropy,
} from "./loss.js";
export { densifyLowRank, lowRankRanks } from "./low-rank.js";
export {
  initMlp,
  MLP_ACTIVATIONS,
  type MlpActivation,
  type MlpConfig,
  type MlpParams,
  makeMlpLossAndGrad,
  mlpAccuracy,
  mlpConfig,
  mlpForward,
  mlpLoss,
  mlpParamShapes,
} from "./mlp.js";
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
