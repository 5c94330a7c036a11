/**
 * The browser entry's `data` namespace: tokenizers (char, byte, any tokenizer.json as parsed
 * JSON), splits and batch sampling. Corpora read from node_modules are Node-only: a page fetches
 * its text itself.
 */
export * from "../data/browser-safe.js";
export { charByteHfJson } from "../data/tokenizer-hf-json.js";
export {
  TOKENIZER_CONFIG_FILE,
  TOKENIZER_FILE,
  tokenizerFileText,
} from "../data/tokenizer-json.js";
