/**
 * A Hugging Face byte-level BPE tokenizer (GPT-2's scheme) as llama.cpp's "gpt2" vocabulary with
 * the "gpt-2" pre-tokenizer (llama-vocab.cpp, gguf-py's SpecialVocab, read not copied): tokens
 * by id as they are written in tokenizer.json (already in GPT-2's byte-to-character form),
 * merges as "left right" strings, added tokens CONTROL when special else USER_DEFINED, ids
 * without a token UNUSED "[PADn]". BOS/EOS/UNK/PAD come from tokenizer_config.json when it names
 * them; no BOS or EOS is added when tokenizing (Rankwise encodes text without them).
 *
 * Accepted: a BPE model, no normalizer, a ByteLevel pre-tokenizer that applies GPT-2's regex
 * (use_regex, no prefix space) and a ByteLevel decoder — the case where llama.cpp's "gpt-2"
 * pre-tokenizer splits words exactly as the tokenizer does. Anything else (other split regexes
 * such as Llama 3's or Qwen's, SentencePiece-style Metaspace, Unigram, WordPiece) is refused
 * with one line naming what differs: a wrong guess would load and tokenize differently.
 * Deviation: with no eos_token in tokenizer_config.json llama.cpp keeps its "gpt2" default,
 * token 11, as EOS.
 */
import type { HfTokenizer } from "../../data/hf-tokenizer.js";
import { UsageError } from "../../engine/errors.js";
import type { GgufValue } from "./gguf-writer.js";

type Json = Record<string, any>;
const isObject = (x: unknown): x is Json => typeof x === "object" && x !== null;

/** llama.cpp token types (llama_token_type). */
const TYPE = { NORMAL: 1, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5 } as const;

/** Why this tokenizer.json is not GPT-2 byte-level BPE, or undefined if it is. */
function unsupported(json: Json): string | undefined {
  const m = json.model;
  if (!isObject(m) || m.type !== "BPE") return `a ${m?.type ?? "missing"} model (only BPE)`;
  if (m.byte_fallback) return "byte_fallback (SentencePiece-style BPE)";
  if (m.continuing_subword_prefix || m.end_of_word_suffix) return "subword prefixes or suffixes";
  if (json.normalizer != null) return `a ${json.normalizer.type ?? ""} normalizer`;
  const pre = json.pre_tokenizer;
  if (!isObject(pre) || pre.type !== "ByteLevel") {
    return `the ${pre?.type ?? "missing"} pre-tokenizer (only ByteLevel with GPT-2's regex)`;
  }
  if (pre.use_regex === false) return "ByteLevel without GPT-2's regex";
  if (pre.add_prefix_space === true) return "ByteLevel with add_prefix_space";
  if (!isObject(json.decoder) || json.decoder.type !== "ByteLevel")
    return "a non-ByteLevel decoder";
  return undefined;
}

const content = (x: unknown) =>
  typeof x === "string" ? x : isObject(x) && typeof x.content === "string" ? x.content : undefined;

/** The tokenizer.ggml.* metadata of an HF byte-level BPE tokenizer (see the file header). */
export function hfTokenizerMetadata(
  tokenizer: HfTokenizer,
  vocabSize: number,
): Record<string, GgufValue> {
  const json = tokenizer.json as Json;
  const { config } = tokenizer;
  const why = unsupported(json);
  if (why !== undefined) {
    throw new UsageError(
      `GGUF export of Hugging Face tokenizers supports GPT-2-style byte-level BPE only; this tokenizer.json has ${why}`,
    );
  }
  const tokens = new Array<string | undefined>(vocabSize);
  const types = new Int32Array(vocabSize).fill(TYPE.UNUSED);
  for (const [text, id] of Object.entries(json.model.vocab as Record<string, number>)) {
    if (id < vocabSize) {
      tokens[id] = text;
      types[id] = TYPE.NORMAL;
    }
  }
  for (const t of (json.added_tokens ?? []) as Json[]) {
    if (typeof t.id === "number" && t.id < vocabSize && typeof t.content === "string") {
      tokens[t.id] = t.content;
      types[t.id] = t.special ? TYPE.CONTROL : TYPE.USER_DEFINED;
    }
  }
  const filled = Array.from(tokens, (t, id) => t ?? `[PAD${id}]`);
  const merges = ((json.model.merges ?? []) as (string | string[])[]).map((m) =>
    Array.isArray(m) ? m.join(" ") : m,
  );
  const meta: Record<string, GgufValue> = {
    "tokenizer.ggml.model": { type: "string", value: "gpt2" },
    "tokenizer.ggml.pre": { type: "string", value: "gpt-2" },
    "tokenizer.ggml.tokens": { type: "string[]", value: filled },
    "tokenizer.ggml.token_type": { type: "i32[]", value: types },
    "tokenizer.ggml.merges": { type: "string[]", value: merges },
    "tokenizer.ggml.add_bos_token": { type: "bool", value: false },
    "tokenizer.ggml.add_eos_token": { type: "bool", value: false },
  };
  const ids = new Map(filled.map((t, id) => [t, id]));
  for (const [field, key] of [
    ["bos_token", "bos_token_id"],
    ["eos_token", "eos_token_id"],
    ["unk_token", "unknown_token_id"],
    ["pad_token", "padding_token_id"],
  ] as const) {
    const id = ids.get(content(config[field]) ?? "\u0000none");
    if (id !== undefined) meta[`tokenizer.ggml.${key}`] = { type: "u32", value: id };
  }
  return meta;
}
