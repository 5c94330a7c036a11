/** The `data` namespace of the public API: corpora, tokenizers, splits and batch sampling. */

export * from "./browser-safe.js";
export { CORPORA, type Corpus, type CorpusInfo, DEFAULT_CORPUS, loadCorpus } from "./corpus.js";
export { readTokenizerFile } from "./tokenizer-file.js";
