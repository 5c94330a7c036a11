/**
 * The browser entry's `nn` namespace: the models (LLaMA-style decoder, MLP), their Hugging Face
 * configs and losses, and a Hugging Face folder read from a page's files tensor by tensor
 * (model-files.ts). Model folders on disk are Node-only.
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
export {
  type BlobLike,
  blobTensors,
  type ModelFromFiles,
  modelFromFiles,
  readBlobHeader,
} from "./model-files.js";
