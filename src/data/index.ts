export { CORPORA, type Corpus, type CorpusInfo, DEFAULT_CORPUS, loadCorpus } from "./corpus.js";
export { Xoshiro128 } from "../engine/rng.js";
export {
  type Batch,
  BatchSampler,
  gatherBatch,
  type SamplerOptions,
  type SamplerState,
  type ValidationOptions,
  validationBatches,
  validationStarts,
} from "./sampler.js";
export { DEFAULT_VAL_FRACTION, type Split, type SplitOptions, splitTokens } from "./split.js";
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
