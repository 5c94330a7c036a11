/**
 * The part of the `data` namespace that reaches no `node:` module: tokenizers, splits and batch
 * sampling. The Node index (data/index.ts) and the browser entry (browser/data.ts) both re-export
 * it, so the two lists cannot drift apart; what only one of them has stays in its own file.
 */
export { HfTokenizer } from "./hf-tokenizer.js";
export {
  type Batch,
  BatchSampler,
  type SamplerOptions,
  type SamplerState,
  type ValidationOptions,
  validationBatches,
} from "./sampler.js";
export { type Split, type SplitOptions, splitTokens } from "./split.js";
export {
  ByteTokenizer,
  buildTokenizer,
  CharTokenizer,
  TOKENIZER_TYPES,
  type Tokenizer,
  type TokenizerJSON,
  type TokenizerType,
  tokenizerFromJSON,
} from "./tokenizer.js";
export { tokenizerFileJson, tokenizerFromFileJson } from "./tokenizer-json.js";
