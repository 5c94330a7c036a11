import { describe, expect, test } from "vitest";
import { loadCorpus } from "../../src/data/corpus.js";
import {
  ByteTokenizer,
  buildTokenizer,
  CharTokenizer,
  tokenizerFromJSON,
} from "../../src/data/tokenizer.js";

describe("CharTokenizer", () => {
  test("vocabulary is the sorted distinct characters; ids index it", () => {
    const tok = CharTokenizer.fromText("hello");
    expect(tok.vocab).toEqual(["e", "h", "l", "o"]);
    expect(tok.vocabSize).toBe(4);
    expect(Array.from(tok.encode("hello"))).toEqual([1, 0, 2, 2, 3]);
    expect(tok.decode([3, 2, 0])).toBe("ole");
  });

  test("characters outside the BMP are one token each, sorted by code point", () => {
    // U+1F600 sorts after U+FB01 by code point (a UTF-16 code-unit sort would put it first).
    const tok = CharTokenizer.fromText("ﬁ😀a😀");
    expect(tok.vocab).toEqual(["a", "ﬁ", "😀"]);
    expect(Array.from(tok.encode("a😀ﬁ"))).toEqual([0, 2, 1]);
    expect(tok.decode(tok.encode("😀a😀ﬁ"))).toBe("😀a😀ﬁ");
  });

  test("round-trips Moby Dick and survives JSON", () => {
    const { text } = loadCorpus("moby-dick");
    const tok = CharTokenizer.fromText(text);
    const distinct = new Set(text);
    expect(tok.vocabSize).toBe(distinct.size);
    const ids = tok.encode(text);
    expect(ids).toBeInstanceOf(Int32Array);
    expect(ids.length).toBe(text.length); // Moby Dick has no astral characters
    expect(tok.decode(ids)).toBe(text);
    const back = tokenizerFromJSON(JSON.parse(JSON.stringify(tok)));
    expect(back.toJSON()).toEqual({ type: "char", vocab: [...tok.vocab] });
    // Compare bytes directly: deep equality over 1.2 M elements is slow.
    expect(Buffer.from(back.encode(text).buffer).equals(Buffer.from(ids.buffer))).toBe(true);
  });

  test("unknown characters and bad ids are errors", () => {
    const tok = CharTokenizer.fromText("abc");
    expect(() => tok.encode("abz")).toThrow(/"z" \(U\+007A\) at offset 2 is not in the vocabulary/);
    expect(() => tok.decode([3])).toThrow(RangeError);
    expect(() => tok.decode([-1])).toThrow(RangeError);
    expect(() => new CharTokenizer(["a", "a"])).toThrow(/repeats/);
    expect(() => new CharTokenizer(["ab"])).toThrow(/single character/);
  });
});

describe("ByteTokenizer", () => {
  const tok = new ByteTokenizer();

  test("ids are the UTF-8 bytes, non-ASCII included", () => {
    const text = "Ahab’s “whale” — naïve 日本 😀";
    expect(Array.from(tok.encode(text))).toEqual(Array.from(Buffer.from(text, "utf8")));
    expect(tok.decode(tok.encode(text))).toBe(text);
    expect(Array.from(tok.encode("é"))).toEqual([0xc3, 0xa9]);
    expect(tok.vocabSize).toBe(256);
  });

  test("invalid UTF-8 decodes to replacement characters; out-of-range ids throw", () => {
    expect(tok.decode([0x61, 0xc3])).toBe("a\uFFFD");
    expect(() => tok.decode([256])).toThrow(RangeError);
    expect(tokenizerFromJSON(JSON.parse(JSON.stringify(tok)))).toBeInstanceOf(ByteTokenizer);
  });
});

test("buildTokenizer and tokenizerFromJSON reject unknown types", () => {
  expect(buildTokenizer("byte", "x").type).toBe("byte");
  expect(buildTokenizer("char", "xy").vocabSize).toBe(2);
  expect(() => buildTokenizer("bpe", "x")).toThrow(/accepted: char, byte/);
  expect(() => tokenizerFromJSON({ type: "bpe" })).toThrow(/accepted: char, byte/);
  expect(() => tokenizerFromJSON({ type: "char" })).toThrow(TypeError);
});
