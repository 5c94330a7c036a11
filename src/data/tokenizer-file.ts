/**
 * Tokenizers as files: a model folder's `tokenizer.json` (Hugging Face's format, for Rankwise's
 * own char and byte tokenizers too: see tokenizer-hf-json.ts) and the `--tokenizer` flag.
 *
 * Reading: a tokenizer.json in Rankwise's char/byte form comes back as CharTokenizer or
 * ByteTokenizer (exact, fast, one-line errors); any other is an HfTokenizer, with the
 * tokenizer_config.json beside it when there is one. Unreadable files are one UsageError line.
 * The JSON side without file access is tokenizer-json.ts (re-exported here), which pages use.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { UsageError } from "../engine/errors.js";
import {
  ByteTokenizer,
  CharTokenizer,
  TOKENIZER_TYPES,
  type Tokenizer,
  type TokenizerJSON,
  tokenizerFromJSON,
} from "./tokenizer.js";
import {
  TOKENIZER_CONFIG_FILE,
  TOKENIZER_FILE,
  tokenizerFileText,
  tokenizerFromFileJson,
} from "./tokenizer-json.js";

export {
  TOKENIZER_CONFIG_FILE,
  TOKENIZER_FILE,
  tokenizerFileJson,
  tokenizerFileText,
  tokenizerFromFileJson,
} from "./tokenizer-json.js";

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${path} is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * Read a tokenizer.json (or the tokenizer.json of a folder), with the tokenizer_config.json beside
 * it if there is one.
 */
export function readTokenizerFile(path: string): Tokenizer {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, TOKENIZER_FILE) : path;
  if (!existsSync(file)) throw new UsageError(`no tokenizer file ${file}`);
  const json = readJson(file);
  const configPath = join(dirname(file), TOKENIZER_CONFIG_FILE);
  const config = existsSync(configPath) ? readJson(configPath) : {};
  try {
    return tokenizerFromFileJson(json, config);
  } catch (error) {
    throw new UsageError(
      `${file} is not a tokenizer Rankwise can read: ${(error as Error).message}`,
    );
  }
}

/** The accepted values of `--tokenizer`, for messages. */
export const TOKENIZER_FLAG_VALUES = `${TOKENIZER_TYPES.join(", ")} or a tokenizer.json file`;

/**
 * The tokenizer a `--tokenizer` value names: "byte", "char" (its vocabulary learned from `text`,
 * the corpus) or the path of a tokenizer.json (or a folder holding one).
 */
export function tokenizerFromFlag(value: string, text?: string): Tokenizer {
  if (value === "byte") return new ByteTokenizer();
  if (value === "char") {
    if (text === undefined || text.length === 0) {
      throw new UsageError(
        "--tokenizer char learns its vocabulary from a corpus, and there is none here: give byte or a tokenizer.json file",
      );
    }
    return CharTokenizer.fromText(text);
  }
  if (value === "" || !existsSync(value)) {
    throw new UsageError(`--tokenizer must be ${TOKENIZER_FLAG_VALUES}; got "${value}"`);
  }
  return readTokenizerFile(value);
}

/**
 * The files a model folder holds for a tokenizer saved as JSON (a checkpoint's trainer.json
 * tokenizer): tokenizer.json, and tokenizer_config.json for an HF tokenizer that came with one.
 */
export function tokenizerFiles(json: TokenizerJSON): Record<string, string> {
  const text = (x: unknown) => `${JSON.stringify(x, null, 2)}\n`;
  if (json.type !== "hf") return { [TOKENIZER_FILE]: tokenizerFileText(tokenizerFromJSON(json)) };
  const files = { [TOKENIZER_FILE]: text(json.tokenizer) };
  const hasConfig = json.config !== undefined && Object.keys(json.config).length > 0;
  return hasConfig ? { ...files, [TOKENIZER_CONFIG_FILE]: text(json.config) } : files;
}
