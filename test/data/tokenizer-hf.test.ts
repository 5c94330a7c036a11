/**
 * Tokenizers as Hugging Face tokenizer.json files:
 * - a hand-written byte-level BPE file encodes to the ids its merges give by hand, and back;
 * - Rankwise's char and byte tokenizers, written as tokenizer.json, are read by
 *   @huggingface/tokenizers itself to the same ids and text, and come back as Rankwise's own
 *   classes (also after a re-save that reorders keys);
 * - Python's `tokenizers` read the same files to the same ids and text, and its re-saved files
 *   are still Rankwise's own (fixture: tools/fixtures/rankwise_tokenizers.py);
 * - text outside a vocabulary without an unknown token is one line, not id 0.
 */
import { readFileSync } from "node:fs";
import { Tokenizer as HfLib } from "@huggingface/tokenizers";
import { describe, expect, test } from "vitest";
import { HfTokenizer } from "../../src/data/hf-tokenizer.js";
import {
  ByteTokenizer,
  CharTokenizer,
  type Tokenizer,
  tokenizerFromJSON,
} from "../../src/data/tokenizer.js";
import {
  tokenizerFileJson,
  tokenizerFiles,
  tokenizerFromFileJson,
} from "../../src/data/tokenizer-file.js";
import { BYTE_CHARS } from "../../src/data/tokenizer-hf-json.js";
import { bpeTokenizerJson } from "../helpers/bpe-json.js";

/** GPT-2 style: byte-level pre-tokenizer (words keep their leading space as "Ġ"), three merges. */
const bpeJson = bpeTokenizerJson({
  vocab: { a: 0, b: 1, c: 2, Ġ: 3, ab: 4, abc: 5, Ġa: 6 },
  merges: ["a b", "ab c", "Ġ a"],
  byteLevel: true,
});

describe("a hand-written BPE tokenizer.json", () => {
  const tok = tokenizerFromFileJson(bpeJson);

  test("encodes by the merge ranks and decodes back", () => {
    expect(tok).toBeInstanceOf(HfTokenizer);
    expect(tok.vocabSize).toBe(7);
    // "abc" → a b c → (a,b) → ab c → (ab,c) → abc.
    // " ab" → Ġ a b: (a,b) ranks before (Ġ,a) → Ġ ab; (Ġ,ab) is no merge.
    // " cab" → Ġ c a b → Ġ c ab.   " a" → Ġ a → Ġa.
    expect(Array.from(tok.encode("abc ab cab a"))).toEqual([5, 3, 4, 3, 2, 4, 6]);
    expect(tok.decode([5, 3, 4, 3, 2, 4, 6])).toBe("abc ab cab a");
    expect(tok.decode([6, 6])).toBe(" a a");
    // The same as the library itself gives.
    const lib = new HfLib(bpeJson, {});
    const text = "cab abc a ab";
    expect(Array.from(tok.encode(text))).toEqual(
      lib.encode(text, { add_special_tokens: false }).ids,
    );
    expect(tok.decode(tok.encode(text))).toBe(text);
    expect(tok.encode("").length).toBe(0);
    expect(tok.decode([])).toBe("");
  });

  test("text the vocabulary cannot hold, and ids outside it, are one-line errors", () => {
    expect(() => tok.encode("abd")).toThrow(/^encode: "d" is not in the tokenizer's vocabulary/);
    expect(() => tok.decode([7])).toThrow(
      /^decode: token id 7 is not in the tokenizer's vocabulary/,
    );
  });

  test("round-trips through the checkpoint JSON", () => {
    const back = tokenizerFromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
    expect(Array.from(back.encode("cab abc"))).toEqual(Array.from(tok.encode("cab abc")));
    expect(tokenizerFileJson(back)).toEqual(bpeJson);
    expect(Object.keys(tokenizerFiles(tok.toJSON()))).toEqual(["tokenizer.json"]);
  });
});

const sample = "Call me Ishmael.\nSome years ago—never mind how long—🐳 çà!\t";

describe("Rankwise's tokenizers as tokenizer.json", () => {
  const cases: [string, Tokenizer][] = [
    ["char", CharTokenizer.fromText(sample)],
    ["byte", new ByteTokenizer()],
  ];

  test.each(cases)("%s: @huggingface/tokenizers reads it to the same ids and text", (_, tok) => {
    const lib = new HfLib(tokenizerFileJson(tok), {});
    const ids = Array.from(tok.encode(sample));
    expect(lib.encode(sample, { add_special_tokens: false }).ids).toEqual(ids);
    expect(lib.decode(ids, { clean_up_tokenization_spaces: false })).toBe(sample);
  });

  test.each(cases)("%s: read back as Rankwise's own class, key order aside", (_, tok) => {
    const json = tokenizerFileJson(tok);
    // A re-save (e.g. by Python) may order keys differently.
    const reverse = (x: unknown): unknown =>
      Array.isArray(x)
        ? x.map(reverse)
        : typeof x === "object" && x !== null
          ? Object.fromEntries(
              Object.entries(x)
                .reverse()
                .map(([k, v]) => [k, reverse(v)]),
            )
          : x;
    const reordered = reverse(json);
    for (const j of [json, reordered, JSON.parse(JSON.stringify(json))]) {
      const back = tokenizerFromFileJson(j);
      expect(back.constructor).toBe(tok.constructor);
      expect(back.toJSON()).toEqual(tok.toJSON());
    }
  });

  test("byte ids are the byte values, through GPT-2's byte characters", () => {
    expect(new Set(BYTE_CHARS).size).toBe(256);
    expect(BYTE_CHARS[0x41]).toBe("A");
    expect(BYTE_CHARS[0x20]).toBe("Ġ"); // space, as in GPT-2's vocabulary
    expect(BYTE_CHARS[0x0a]).toBe("Ċ"); // newline
  });

  test("a changed file is no longer taken for Rankwise's own tokenizer", () => {
    const json = tokenizerFileJson(CharTokenizer.fromText("ab")) as any;
    const merged = {
      ...json,
      model: { ...json.model, vocab: { a: 0, b: 1, ab: 2 }, merges: ["a b"] },
    };
    const tok = tokenizerFromFileJson(merged);
    expect(tok).toBeInstanceOf(HfTokenizer);
    expect(Array.from(tok.encode("abab"))).toEqual([0, 1, 0, 1]); // each character is a word
  });

  test("a character outside a char vocabulary is refused, not dropped", () => {
    const tok = tokenizerFromFileJson(tokenizerFileJson(CharTokenizer.fromText("ab")));
    expect(() => tok.encode("abc")).toThrow(/character "c" \(U\+0063\) at offset 2/);
  });
});

describe("Python's tokenizers (fixture)", () => {
  const dir = "test/fixtures/tokenizers";
  const python = JSON.parse(readFileSync(`${dir}/python.json`, "utf8"));
  const cases: [string, Tokenizer][] = [
    ["char", CharTokenizer.fromText(python.sample)],
    ["byte", new ByteTokenizer()],
  ];

  test.each(cases)("%s: the committed file is what Rankwise writes today", (kind, tok) => {
    expect(JSON.parse(readFileSync(`${dir}/${kind}.json`, "utf8"))).toEqual(tokenizerFileJson(tok));
  });

  test.each(cases)("%s: Python encodes and decodes it as Rankwise does", (kind, tok) => {
    expect(python[kind].ids).toEqual(Array.from(tok.encode(python.sample)));
    expect(python[kind].decoded).toBe(python.sample);
  });

  test.each(cases)("%s: Python's re-saved file reads back as Rankwise's own", (kind, tok) => {
    const back = tokenizerFromFileJson(python[kind].resaved);
    expect(back.constructor).toBe(tok.constructor);
    expect(back.toJSON()).toEqual(tok.toJSON());
  });
});
