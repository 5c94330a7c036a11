/**
 * The part of the `nn` namespace that reaches no `node:` module: the LLaMA-style decoder and the
 * MLP with their configs, and the basic losses. The Node index (nn/index.ts) and the browser
 * entry (browser/nn.ts) both re-export it, so the two lists cannot drift apart; what only one of
 * them has stays in its own file.
 */
export {
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
  type SltrainConfig,
  toHfConfig,
} from "./llama-config.js";
export { accuracy, crossEntropy, type LossAndGrad } from "./loss.js";
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
