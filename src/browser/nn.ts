/**
 * The browser entry's `nn` namespace: the models (LLaMA-style decoder, MLP), their Hugging Face
 * configs and losses. Model folders on disk are Node-only; a page builds parameters from bytes.
 */
export {
  initLlama,
  type LlamaParams,
  llamaForward,
  llamaLoss,
  llamaParamCount,
  llamaParamShapes,
  makeLossAndGrad,
} from "../nn/llama.js";
export {
  fromHfConfig,
  LLAMA_PRESETS,
  type LlamaConfig,
  type LlamaConfigInput,
  type LlamaPreset,
  llamaConfig,
  llamaPreset,
  toHfConfig,
} from "../nn/llama-config.js";
export { accuracy, crossEntropy, type LossAndGrad } from "../nn/loss.js";
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
} from "../nn/mlp.js";
