/** Models: LLaMA-style decoder (Hugging Face names), MLP classifier, save/load as HF folders. */
export {
  checkLlamaParams,
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
  validateLlamaConfig,
} from "./llama-config.js";
export { accuracy, crossEntropy, type LossAndGrad } from "./loss.js";
export {
  checkMlpParams,
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
  validateMlpConfig,
} from "./mlp.js";
export {
  CONFIG_FILE,
  configFromJson,
  configToJson,
  loadModel,
  type ModelConfig,
  type Pretrained,
  saveModel,
  WEIGHTS_FILE,
  WEIGHTS_INDEX_FILE,
} from "./pretrained.js";
