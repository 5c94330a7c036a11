/**
 * Hugging Face tokenizers (a model folder's `tokenizer.json`: BPE, byte-level BPE, Unigram,
 * WordPiece with their normalizers, pre-tokenizers and decoders) behind Rankwise's Tokenizer
 * interface, through `@huggingface/tokenizers` (pure JS, runs in browsers too).
 *
 * Rules: text is encoded without special tokens (a corpus is one stream, not a chat turn: no BOS
 * per document); decoding keeps the text as the decoder gives it (`clean_up_tokenization_spaces`
 * only if tokenizer_config.json asks for it — the library's own default is true, transformers'
 * is now false). A piece of text the vocabulary cannot represent (no unknown token) is refused
 * with one line naming it, as the char tokenizer does, rather than silently becoming id 0.
 */
import { Tokenizer as HfLibTokenizer } from "@huggingface/tokenizers";
import type { Tokenizer, TokenizerJSON } from "./tokenizer.js";

type Json = Record<string, unknown>;

/** A tokenizer read from a Hugging Face tokenizer.json (with its tokenizer_config.json, if any). */
export class HfTokenizer implements Tokenizer {
  readonly type = "hf" as const;
  /** One more than the largest id of the vocabulary and added tokens. */
  readonly vocabSize: number;
  private readonly lib: HfLibTokenizer;
  private readonly cleanUp: boolean;

  /**
   * @param json the parsed tokenizer.json
   * @param config the parsed tokenizer_config.json ({} if the folder has none)
   */
  constructor(
    readonly json: Record<string, unknown>,
    readonly config: Record<string, unknown> = {},
  ) {
    if (typeof json !== "object" || json === null || typeof json.model !== "object") {
      throw new TypeError("tokenizer.json: expected an object with a model");
    }
    try {
      this.lib = new HfLibTokenizer(json, config);
    } catch (error) {
      throw new TypeError(`tokenizer.json: ${(error as Error).message}`, { cause: error });
    }
    let max = -1;
    for (const id of this.lib.get_vocab(true).values()) max = Math.max(max, id);
    if (max < 0) throw new TypeError("tokenizer.json: the vocabulary is empty");
    this.vocabSize = max + 1;
    this.cleanUp = config.clean_up_tokenization_spaces === true;
    this.refuseDroppedText(json.model as Json);
  }

  /**
   * A BPE model without an unknown token (or byte fallback) silently drops characters outside its
   * vocabulary, in the library as in Rust. Its tokens then no longer spell each pre-tokenized word:
   * check that per word and name the first missing character.
   */
  private refuseDroppedText(m: Json): void {
    const model = this.lib.model as unknown as {
      encode(words: string[]): string[];
      tokens_to_ids: Map<string, number>;
    } | null;
    const plain = !m.unk_token && !m.byte_fallback;
    const spelled = !m.continuing_subword_prefix && !m.end_of_word_suffix;
    if (!model || m.type !== "BPE" || !plain || !spelled) return;
    const encode = model.encode.bind(model);
    model.encode = (words: string[]) => {
      const out: string[] = [];
      for (const word of words) {
        const tokens = encode([word]);
        if (tokens.join("") !== word) {
          const missing = [...word].find((ch) => !model.tokens_to_ids.has(ch)) ?? word;
          throw new RangeError(
            `encode: ${JSON.stringify(missing)} is not in the tokenizer's vocabulary (and it has no unknown token)`,
          );
        }
        for (const t of tokens) out.push(t);
      }
      return out;
    };
  }

  encode(text: string): Int32Array {
    if (text.length === 0) return new Int32Array(0);
    const { ids, tokens } = this.lib.encode(text, { add_special_tokens: false });
    const out = new Int32Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id === undefined || id === null || !Number.isInteger(id)) {
        throw new RangeError(
          `encode: ${JSON.stringify(tokens[i])} is not in the tokenizer's vocabulary (and it has no unknown token)`,
        );
      }
      out[i] = id;
    }
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    if (ids.length === 0) return "";
    const list = Array.from(ids);
    for (const id of list) {
      if (!Number.isInteger(id) || this.lib.id_to_token(id) === undefined) {
        throw new RangeError(`decode: token id ${id} is not in the tokenizer's vocabulary`);
      }
    }
    return this.lib.decode(list, { clean_up_tokenization_spaces: this.cleanUp });
  }

  toJSON(): TokenizerJSON {
    return { type: "hf", tokenizer: this.json, config: this.config };
  }
}
