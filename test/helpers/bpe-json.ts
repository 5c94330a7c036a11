/**
 * Hand-written BPE tokenizer.json files for the tests: the Hugging Face `tokenizers` layout with
 * every field the tests do not vary written as that library writes an unset one (null / false),
 * so a test names only its vocabulary, merges and, where it matters, the byte-level
 * pre-tokenizer/decoder and added tokens.
 */

/** GPT-2's byte-level pre-tokenizer and decoder (words keep their leading space as "Ġ"). */
export const BYTE_LEVEL = {
  type: "ByteLevel",
  add_prefix_space: false,
  trim_offsets: true,
  use_regex: true,
};

/** A tokenizer.json (as parsed JSON) whose model is BPE over `vocab` with `merges`. */
export function bpeTokenizerJson(o: {
  vocab: Record<string, number>;
  merges: string[];
  byteLevel?: boolean;
  addedTokens?: unknown[];
}): Record<string, unknown> {
  const level = o.byteLevel ? BYTE_LEVEL : null;
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: o.addedTokens ?? [],
    normalizer: null,
    pre_tokenizer: level,
    post_processor: null,
    decoder: level,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab: o.vocab,
      merges: o.merges,
    },
  };
}
