/** The `data` namespace of the public API: corpora, tokenizers, splits and batch sampling. */
export { CORPORA, type Corpus, type CorpusInfo, DEFAULT_CORPUS, loadCorpus } from "./corpus.js";
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
export {
  readTokenizerFile,
  tokenizerFileJson,
  tokenizerFromFileJson,
} from "./tokenizer-file.js";
