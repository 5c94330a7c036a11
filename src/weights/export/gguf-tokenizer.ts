/**
 * A Rankwise tokenizer as GGUF tokenizer metadata that llama.cpp reads (llama-vocab.cpp, read
 * not copied). Both of Rankwise's tokenizers map one token to one character's (or one byte's)
 * UTF-8 bytes, and ids are kept. They are written as llama.cpp's "rwkv" vocabulary type:
 *
 * - it tokenizes by longest match of the raw UTF-8 bytes against the tokens' bytes; UTF-8 is
 *   prefix-free, so with one token per character (char) or per byte (byte) that is exactly
 *   Rankwise's encoding, and detokenizing concatenates the tokens' bytes;
 * - it has no default special tokens. "gpt2" (byte-level BPE, the other candidate) makes token
 *   11 both BOS and EOS unless told otherwise, so llama.cpp would stop generating at byte 11 (or
 *   at whatever character has id 11) — Rankwise's tokenizers have no EOS to name instead — and
 *   it also "cleans up" spaces before punctuation when detokenizing.
 *
 * Token text is escaped as llama.cpp unescapes rwkv tokens: printable ASCII stands for itself,
 * backslash is "\\", every other byte "\xhh" (lowercase hex). Rows of the embedding beyond the
 * tokenizer's vocabulary get UNUSED tokens whose bytes start with 0xFF, which never occurs in
 * UTF-8 text, so no text ever tokenizes to them.
 *
 * A character outside a char vocabulary becomes a stand-in token in llama.cpp (see
 * unknownStandIn), where Rankwise refuses it. Hugging Face tokenizers (type "hf") go to
 * gguf-hf-tokenizer.ts (GPT-2-style byte-level BPE only).
 */
import { HfTokenizer } from "../../data/hf-tokenizer.js";
import type { Tokenizer } from "../../data/tokenizer.js";
import { CharTokenizer } from "../../data/tokenizer.js";
import { UsageError } from "../../engine/errors.js";
import { hfTokenizerMetadata } from "./gguf-hf-tokenizer.js";
import type { GgufValue } from "./gguf-writer.js";

/** llama.cpp token types (llama_token_type): NORMAL, UNUSED. */
const NORMAL = 1;
const UNUSED = 5;

const hex = (b: number) => `\\x${b.toString(16).padStart(2, "0")}`;

/** A token's bytes as llama.cpp's rwkv token text (see the file header). */
export function escapeRwkv(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) {
    if (b === 0x5c) out += "\\\\";
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += hex(b);
  }
  return out;
}

/** The UTF-8 bytes of each token of a Rankwise tokenizer, by id. */
export function tokenBytes(tokenizer: Tokenizer): Uint8Array[] {
  if (tokenizer.type === "byte") return Array.from({ length: 256 }, (_, b) => Uint8Array.of(b));
  if (tokenizer.type === "char" && tokenizer instanceof CharTokenizer) {
    const utf8 = new TextEncoder();
    return tokenizer.vocab.map((ch) => utf8.encode(ch));
  }
  throw new UsageError(`GGUF export: no rwkv vocabulary for a ${tokenizer.type} tokenizer`);
}

/**
 * The tokenizer.ggml.* metadata of `tokenizer` for a model with `vocabSize` embedding rows:
 * llama.cpp wants one token per row, so rows the tokenizer never produces get unused tokens
 * (as llama.cpp's converter pads; their text is unreachable, see the file header).
 */
export function tokenizerMetadata(
  tokenizer: Tokenizer,
  vocabSize: number,
): Record<string, GgufValue> {
  if (tokenizer instanceof HfTokenizer) return hfTokenizerMetadata(tokenizer, vocabSize);
  const tokens = tokenBytes(tokenizer).map(escapeRwkv);
  const types = new Int32Array(vocabSize).fill(UNUSED);
  types.fill(NORMAL, 0, tokens.length);
  for (let i = tokens.length; i < vocabSize; i++) tokens.push(`${hex(0xff)}PAD${i}`);
  const meta: Record<string, GgufValue> = {
    "tokenizer.ggml.model": { type: "string", value: "rwkv" },
    "tokenizer.ggml.tokens": { type: "string[]", value: tokens },
    "tokenizer.ggml.token_type": { type: "i32[]", value: types },
    "tokenizer.ggml.add_bos_token": { type: "bool", value: false },
    "tokenizer.ggml.add_eos_token": { type: "bool", value: false },
  };
  const unknown = unknownStandIn(tokenizer);
  if (unknown !== undefined)
    meta["tokenizer.ggml.unknown_token_id"] = { type: "u32", value: unknown };
  return meta;
}

/**
 * The token llama.cpp gives each byte it cannot match (char vocabularies only: a byte vocabulary
 * matches everything). Without one llama.cpp uses id -1 and aborts the process; Rankwise has no
 * unknown token, so a stand-in character is named: U+FFFD, "?", " ", else id 0.
 */
function unknownStandIn(tokenizer: Tokenizer): number | undefined {
  if (!(tokenizer instanceof CharTokenizer)) return undefined;
  for (const ch of ["\uFFFD", "?", " "]) {
    const id = tokenizer.vocab.indexOf(ch);
    if (id >= 0) return id;
  }
  return 0;
}
