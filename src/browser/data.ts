/**
 * The browser entry's `data` namespace: tokenizers (char, byte, any tokenizer.json as parsed
 * JSON), splits and batch sampling. Corpora read from node_modules are Node-only: a page fetches
 * its text itself.
 */
export { HfTokenizer } from "../data/hf-tokenizer.js";
export {
  type Batch,
  BatchSampler,
  type SamplerOptions,
  type SamplerState,
  type ValidationOptions,
  validationBatches,
} from "../data/sampler.js";
export { type Split, type SplitOptions, splitTokens } from "../data/split.js";
export {
  ByteTokenizer,
  buildTokenizer,
  CharTokenizer,
  TOKENIZER_TYPES,
  type Tokenizer,
  type TokenizerJSON,
  type TokenizerType,
  tokenizerFromJSON,
} from "../data/tokenizer.js";
export { charByteHfJson } from "../data/tokenizer-hf-json.js";
export {
  TOKENIZER_CONFIG_FILE,
  TOKENIZER_FILE,
  tokenizerFileJson,
  tokenizerFileText,
  tokenizerFromFileJson,
} from "../data/tokenizer-json.js";
