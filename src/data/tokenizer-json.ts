/**
 * Tokenizers ↔ the JSON of a `tokenizer.json` file (Hugging Face's format, Rankwise's char and
 * byte tokenizers included: see tokenizer-hf-json.ts), without file access, so that pages can use
 * them (src/browser.ts). tokenizer-file.ts adds the reading of files and the `--tokenizer` flag.
 *
 * Rule: a tokenizer.json in Rankwise's char/byte form comes back as CharTokenizer or ByteTokenizer
 * (exact, fast); any other is an HfTokenizer, given its tokenizer_config.json when there is one.
 */
import { HfTokenizer } from "./hf-tokenizer.js";
import { ByteTokenizer, CharTokenizer, type Tokenizer } from "./tokenizer.js";
import { charByteFromHfJson, charByteHfJson } from "./tokenizer-hf-json.js";

export const TOKENIZER_FILE = "tokenizer.json";
export const TOKENIZER_CONFIG_FILE = "tokenizer_config.json";

/** The tokenizer.json object of any tokenizer (an HF one gives back the file it was read from). */
export function tokenizerFileJson(tokenizer: Tokenizer): Record<string, unknown> {
  if (tokenizer instanceof CharTokenizer || tokenizer instanceof ByteTokenizer) {
    return charByteHfJson(tokenizer);
  }
  if (tokenizer instanceof HfTokenizer) return tokenizer.json;
  const json = tokenizer.toJSON();
  if (json.type === "hf") return json.tokenizer;
  throw new TypeError(`tokenizerFileJson: unknown tokenizer type ${JSON.stringify(json.type)}`);
}

/** The text of a tokenizer.json file (what model folders and checkpoints hold). */
export const tokenizerFileText = (tokenizer: Tokenizer): string =>
  `${JSON.stringify(tokenizerFileJson(tokenizer), null, 2)}\n`;

/** A tokenizer from a parsed tokenizer.json (+ tokenizer_config.json). */
export function tokenizerFromFileJson(json: unknown, config: unknown = {}): Tokenizer {
  return (
    charByteFromHfJson(json) ??
    new HfTokenizer(json as Record<string, unknown>, config as Record<string, unknown>)
  );
}
