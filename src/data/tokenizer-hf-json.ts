/**
 * Rankwise's char and byte tokenizers written as Hugging Face `tokenizer.json` files, and
 * recognised again when read, so a model folder carries its tokenizer in the one format both
 * ecosystems read (Python's `tokenizers.Tokenizer.from_file`, `@huggingface/tokenizers`).
 *
 * Both are a BPE model without merges behind a pre-tokenizer that isolates every character, so
 * each character (or byte) is one word and one token:
 *
 * - char: `Split` on the regex `[\s\S]` (one code point, newlines included), vocabulary
 *   `{character: id}`, decoder `Fuse` (tokens joined with nothing).
 * - byte: `ByteLevel` (no regex, no prefix space) maps each UTF-8 byte to GPT-2's printable
 *   stand-in character, then the same `Split`; vocabulary `{stand-in of byte b: b}`, so ids are
 *   the byte values; decoder `ByteLevel` (invalid UTF-8 becomes U+FFFD, as ByteTokenizer does).
 *
 * Deviation: these files have no unknown token, so HF's libraries drop (Rust) or leave unmapped
 * (JS) a character outside a char vocabulary; Rankwise reads them back as its own tokenizers,
 * which refuse it with one line instead.
 */
import { ByteTokenizer, CharTokenizer, type Tokenizer } from "./tokenizer.js";

/** GPT-2's byte → printable character map (bytes_to_unicode): printable Latin-1 bytes stand for
 *  themselves, the others for U+0100 onwards in byte order. */
export const BYTE_CHARS: readonly string[] = (() => {
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 0x100;
  return Array.from({ length: 256 }, (_, b) => String.fromCharCode(printable(b) ? b : next++));
})();

const EACH_CHARACTER = {
  type: "Split",
  pattern: { Regex: "[\\s\\S]" },
  behavior: "Isolated",
  invert: false,
};
const BYTE_LEVEL = { add_prefix_space: false, trim_offsets: false, use_regex: false };

const bpe = (vocab: Record<string, number>) => ({
  type: "BPE",
  dropout: null,
  unk_token: null,
  continuing_subword_prefix: null,
  end_of_word_suffix: null,
  fuse_unk: false,
  byte_fallback: false,
  ignore_merges: false,
  vocab,
  merges: [],
});

const file = (preTokenizer: unknown, decoder: unknown, vocab: Record<string, number>) => ({
  version: "1.0",
  truncation: null,
  padding: null,
  added_tokens: [],
  normalizer: null,
  pre_tokenizer: preTokenizer,
  post_processor: null,
  decoder,
  model: bpe(vocab),
});

/** The HF tokenizer.json object of Rankwise's char/byte tokenizers (the char form of a char
 *  tokenizer, ...); an HF tokenizer gives back the file it was read from. */
export function charByteHfJson(tokenizer: CharTokenizer | ByteTokenizer): Record<string, unknown> {
  if (tokenizer.type === "char") {
    const vocab = Object.fromEntries(tokenizer.vocab.map((ch, id) => [ch, id]));
    return file(EACH_CHARACTER, { type: "Fuse" }, vocab);
  }
  const vocab = Object.fromEntries(BYTE_CHARS.map((ch, b) => [ch, b]));
  return file(
    { type: "Sequence", pretokenizers: [{ type: "ByteLevel", ...BYTE_LEVEL }, EACH_CHARACTER] },
    { type: "ByteLevel", ...BYTE_LEVEL },
    vocab,
  );
}

type Json = Record<string, any>;
const isObject = (x: unknown): x is Json => typeof x === "object" && x !== null;

const isEachCharacter = (p: unknown) =>
  isObject(p) &&
  p.type === "Split" &&
  p.pattern?.Regex === EACH_CHARACTER.pattern.Regex &&
  p.behavior === "Isolated" &&
  !p.invert;

const isPlainByteLevel = (p: unknown, type: string) =>
  isObject(p) && p.type === type && p.add_prefix_space === false && p.use_regex === false;

/** The vocabulary as a list by id, if its ids are exactly 0..n-1. */
function vocabById(vocab: Json): string[] | undefined {
  const entries = Object.entries(vocab);
  const byId = new Array<string>(entries.length);
  for (const [token, id] of entries) {
    if (!Number.isInteger(id) || id < 0 || id >= entries.length || byId[id] !== undefined) return;
    byId[id] = token;
  }
  return byId;
}

/**
 * Rankwise's own tokenizer if `json` is a tokenizer.json in one of the two forms above (whatever
 * the key order or extra defaults a re-save added), else undefined.
 */
export function charByteFromHfJson(json: unknown): Tokenizer | undefined {
  if (!isObject(json) || !isObject(json.model)) return;
  const { model, pre_tokenizer: pre, decoder } = json;
  const plain =
    model.type === "BPE" &&
    Array.isArray(model.merges) &&
    model.merges.length === 0 &&
    isObject(model.vocab) &&
    !model.unk_token &&
    !model.continuing_subword_prefix &&
    !model.end_of_word_suffix &&
    !model.byte_fallback &&
    json.normalizer == null &&
    json.post_processor == null &&
    (json.added_tokens ?? []).length === 0;
  if (!plain) return;
  const vocab = vocabById(model.vocab);
  if (!vocab) return;
  if (isEachCharacter(pre) && isObject(decoder) && decoder.type === "Fuse") {
    return vocab.every((ch) => [...ch].length === 1) ? new CharTokenizer(vocab) : undefined;
  }
  const steps = isObject(pre) && pre.type === "Sequence" ? pre.pretokenizers : undefined;
  if (
    Array.isArray(steps) &&
    steps.length === 2 &&
    isPlainByteLevel(steps[0], "ByteLevel") &&
    isEachCharacter(steps[1]) &&
    isPlainByteLevel(decoder, "ByteLevel") &&
    vocab.length === 256 &&
    vocab.every((ch, b) => ch === BYTE_CHARS[b])
  ) {
    return new ByteTokenizer();
  }
  return;
}
