/**
 * Tokenizers: text ⇄ Int32Array of token ids.
 *
 * - CharTokenizer: one token per Unicode code point; the vocabulary is the corpus's distinct
 *   characters sorted by code point, id = position in that list. Encoding a character that is not
 *   in the vocabulary throws a RangeError naming it (no reserved "unknown" id: the vocabulary is
 *   built from the whole corpus, so only user-supplied prompts can hit this, and silently
 *   replacing their characters would hide the problem).
 * - ByteTokenizer: the UTF-8 bytes of the text, vocabulary 256. Decoding ids that are not valid
 *   UTF-8 (a model can emit any byte sequence) yields U+FFFD replacement characters.
 *
 * Serialised as {type: "char", vocab: [...]} or {type: "byte"}; tokenizerFromJSON reverses it.
 * Hugging Face tokenizers (hf-tokenizer.ts) serialise as {type: "hf", tokenizer, config}: the
 * tokenizer.json and tokenizer_config.json they were read from.
 */
import { HfTokenizer } from "./hf-tokenizer.js";

/** A tokenizer as JSON (what checkpoints store); {@link tokenizerFromJSON} rebuilds it. */
export type TokenizerJSON =
  | { type: "char"; vocab: string[] }
  | { type: "byte" }
  | { type: "hf"; tokenizer: Record<string, unknown>; config?: Record<string, unknown> };

/** Text ⇄ token ids. */
export interface Tokenizer {
  readonly type: "char" | "byte" | "hf";
  readonly vocabSize: number;
  /** The token ids of `text`. */
  encode(text: string): Int32Array;
  /** The text of token ids (throws on an id outside the vocabulary). */
  decode(ids: ArrayLike<number>): string;
  /** This tokenizer as JSON. */
  toJSON(): TokenizerJSON;
}

/** The tokenizer kinds {@link buildTokenizer} accepts. */
export const TOKENIZER_TYPES = ["char", "byte"] as const;
/** One of {@link TOKENIZER_TYPES}. */
export type TokenizerType = (typeof TOKENIZER_TYPES)[number];

const describeChar = (ch: string): string =>
  `${JSON.stringify(ch)} (U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")})`;

function checkId(id: number, vocabSize: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
    throw new RangeError(`decode: token id ${id} is outside the vocabulary [0, ${vocabSize})`);
  }
}

/**
 * One token per Unicode code point; the vocabulary is the corpus's distinct characters sorted by
 * code point. Encoding a character outside it throws.
 */
export class CharTokenizer implements Tokenizer {
  readonly type = "char" as const;
  readonly vocab: readonly string[];
  /** Id of each code point below 0x10000 (-1 = not in the vocabulary); astral ones in a map. */
  private readonly bmp = new Int32Array(0x10000).fill(-1);
  private readonly astral = new Map<number, number>();

  constructor(vocab: readonly string[]) {
    if (!Array.isArray(vocab) || vocab.length === 0) {
      throw new TypeError("CharTokenizer: vocab must be a non-empty array of characters");
    }
    vocab.forEach((ch, id) => {
      if (typeof ch !== "string" || ch.length === 0 || [...ch].length !== 1) {
        throw new TypeError(`CharTokenizer: vocab[${id}] must be a single character`);
      }
      const cp = ch.codePointAt(0)!;
      const seen = cp < 0x10000 ? this.bmp[cp]! >= 0 : this.astral.has(cp);
      if (seen) throw new TypeError(`CharTokenizer: vocab repeats ${describeChar(ch)}`);
      if (cp < 0x10000) this.bmp[cp] = id;
      else this.astral.set(cp, id);
    });
    this.vocab = Object.freeze([...vocab]);
  }

  /** The distinct characters of `text`, sorted by code point. */
  static fromText(text: string): CharTokenizer {
    if (text.length === 0) throw new RangeError("CharTokenizer.fromText: text is empty");
    const codePoints = new Set<number>();
    for (const ch of text) codePoints.add(ch.codePointAt(0)!);
    const sorted = [...codePoints].sort((a, b) => a - b);
    return new CharTokenizer(sorted.map((cp) => String.fromCodePoint(cp)));
  }

  /** Number of distinct tokens. */
  get vocabSize(): number {
    return this.vocab.length;
  }

  encode(text: string): Int32Array {
    const out = new Int32Array(text.length); // upper bound: an astral character is two units
    let n = 0;
    for (let i = 0; i < text.length; i++) {
      const cp = text.codePointAt(i)!;
      const id = cp < 0x10000 ? this.bmp[cp]! : (this.astral.get(cp) ?? -1);
      if (id < 0) {
        const ch = String.fromCodePoint(cp);
        throw new RangeError(
          `encode: character ${describeChar(ch)} at offset ${i} is not in the vocabulary`,
        );
      }
      out[n++] = id;
      if (cp >= 0x10000) i++;
    }
    return n === out.length ? out : out.slice(0, n);
  }

  decode(ids: ArrayLike<number>): string {
    const parts = new Array<string>(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      checkId(id, this.vocab.length);
      parts[i] = this.vocab[id]!;
    }
    return parts.join("");
  }

  toJSON(): TokenizerJSON {
    return { type: "char", vocab: [...this.vocab] };
  }
}

/** The UTF-8 bytes of the text (vocabulary 256); invalid UTF-8 decodes to U+FFFD. */
export class ByteTokenizer implements Tokenizer {
  readonly type = "byte" as const;
  readonly vocabSize = 256;

  encode(text: string): Int32Array {
    return Int32Array.from(new TextEncoder().encode(text));
  }

  decode(ids: ArrayLike<number>): string {
    const bytes = new Uint8Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      checkId(ids[i]!, 256);
      bytes[i] = ids[i]!;
    }
    return new TextDecoder("utf-8").decode(bytes);
  }

  toJSON(): TokenizerJSON {
    return { type: "byte" };
  }
}

/** Build a tokenizer of the given type for a corpus ("char" learns its vocabulary from `text`). */
export function buildTokenizer(type: string, text: string): Tokenizer {
  if (type === "char") return CharTokenizer.fromText(text);
  if (type === "byte") return new ByteTokenizer();
  throw new RangeError(
    `tokenizer: unknown type "${type}"; accepted: ${TOKENIZER_TYPES.join(", ")}`,
  );
}

/** Inverse of Tokenizer.toJSON (e.g. from a checkpoint). */
export function tokenizerFromJSON(json: unknown): Tokenizer {
  const obj = json as { type?: unknown; vocab?: unknown; tokenizer?: unknown; config?: unknown };
  if (typeof obj !== "object" || obj === null) {
    throw new TypeError("tokenizerFromJSON: expected an object {type, vocab?}");
  }
  if (obj.type === "byte") return new ByteTokenizer();
  if (obj.type === "hf") {
    return new HfTokenizer(
      obj.tokenizer as Record<string, unknown>,
      (obj.config ?? {}) as Record<string, unknown>,
    );
  }
  if (obj.type === "char") {
    if (!Array.isArray(obj.vocab)) {
      throw new TypeError("tokenizerFromJSON: a char tokenizer needs a vocab array");
    }
    return new CharTokenizer(obj.vocab as string[]);
  }
  throw new RangeError(
    `tokenizerFromJSON: unknown type ${JSON.stringify(obj.type)}; accepted: ${[...TOKENIZER_TYPES, "hf"].join(", ")}`,
  );
}
