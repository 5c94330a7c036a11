/**
 * `tokenizer_source: base` / `tokenizer_source: <model>` through runMerge when vocabularies
 * differ, against rows computed here by hand from the input weights (mergekit's tokenizer/build.py
 * and embed.py): a named model's char vocabulary in another order re-indexes the other model's
 * rows; with a base, a model lacking a token takes the base's row, the padding rows past the
 * tokenizer are dropped and vocab_size is the tokenizer's; a model without tokenizer.json shares
 * the base's vocabulary (the source's when the base has none); a source outside the merge gives
 * zeros for tokens no merged model has; a BPE source whose added token is also in its vocab lists
 * it once; one vocabulary everywhere is the plain merge, bit for bit; a source without a tokenizer
 * is one line; no arrays leak.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CharTokenizer } from "../../src/data/tokenizer.js";
import { tokenizerFileText } from "../../src/data/tokenizer-file.js";
import * as tree from "../../src/engine/tree.js";
import { initLlama } from "../../src/nn/llama.js";
import { type LlamaConfig, llamaConfig } from "../../src/nn/llama-config.js";
import { loadModel, saveModel } from "../../src/nn/pretrained.js";
import { runMerge } from "../../src/weights/merge/run.js";
import { bpeTokenizerJson } from "../helpers/bpe-json.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";

let tmp: string;
const weights = new Map<string, Record<string, Float64Array>>();
const HIDDEN = 4;
const VOCAB = ["model.embed_tokens.weight", "lm_head.weight"];

async function model(name: string, seed: number, vocabSize: number, text: string | null) {
  const config = llamaConfig({
    vocab_size: vocabSize,
    hidden_size: HIDDEN,
    intermediate_size: 8,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    max_position_embeddings: 8,
    tie_word_embeddings: false,
    initializer_range: 1,
  });
  const params = initLlama(config, seed);
  const dir = join(tmp, name);
  await saveModel(dir, { config, params });
  weights.set(name, Object.fromEntries(Object.entries(params).map(([k, v]) => [k, read(v)])));
  tree.dispose(params);
  if (text !== null) writeFileSync(join(dir, "tokenizer.json"), chars(text));
}

const chars = (text: string) => tokenizerFileText(new CharTokenizer([...text]));

/** A BPE tokenizer.json whose added token <s> is also in its vocab at the same id (as LLaMA's). */
const BPE = JSON.stringify(
  bpeTokenizerJson({
    vocab: { a: 0, b: 1, "<s>": 2 },
    merges: [],
    addedTokens: [
      {
        id: 2,
        content: "<s>",
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      },
    ],
  }),
);

beforeAll(async () => {
  await setup();
  tmp = mkdtempSync(join(tmpdir(), "rankwise-toksource-"));
  await model("x", 1, 3, "abc");
  await model("y", 2, 3, "cab");
  await model("x2", 3, 3, "abc");
  await model("base", 4, 4, "ab"); // rows 2 and 3 are padding
  await model("p", 5, 2, "ac");
  await model("q", 6, 3, "bcd");
  await model("bare", 7, 3, null);
  await model("z", 8, 3, "zab");
  await model("bpe", 9, 3, null);
  writeFileSync(join(tmp, "bpe", "tokenizer.json"), BPE);
  await model("ba", 10, 2, "ba");
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let outs = 0;
async function merge(yaml: string) {
  const out = join(tmp, `out-${outs++}`);
  await runMerge(yaml.replaceAll("@", tmp), { out });
  const { config, params } = await loadModel(out);
  const got = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, read(v)]));
  tree.dispose(params);
  return { out, config: config as LlamaConfig, got };
}

const row = (m: string, name: string, id: number) =>
  weights.get(m)![name]!.slice(id * HIDDEN, (id + 1) * HIDDEN);
const mix = (parts: [number, Float64Array][]) =>
  Float64Array.from({ length: HIDDEN }, (_, i) => parts.reduce((s, [w, r]) => s + w * r[i]!, 0));

function expectRows(got: Float64Array, rows: Float64Array[]) {
  expect(got.length).toBe(rows.length * HIDDEN);
  rows.forEach((r, t) => {
    for (let i = 0; i < HIDDEN; i++) expect(got[t * HIDDEN + i], `row ${t}`).toBeCloseTo(r[i]!, 6);
  });
}

const linear2 = (a: string, b: string) =>
  `merge_method: linear\nmodels:\n  - model: @/${a}\n    parameters: {weight: 0.25}\n  - model: @/${b}\n    parameters: {weight: 0.75}\n`;

describe("tokenizer_source: base or a model, vocabularies differing", () => {
  test("a named model's vocabulary in another order: the other's rows follow their tokens", async () => {
    const live = await liveBuffers();
    const { out, config, got } = await merge(`${linear2("x", "y")}tokenizer_source: @/y\n`);
    expect(await liveBuffers()).toBe(live);
    expect(readFileSync(join(out, "tokenizer.json"), "utf8")).toBe(chars("cab"));
    expect(config.vocab_size).toBe(3);
    for (const name of VOCAB) {
      // y: c a b = 0 1 2; x: a b c = 0 1 2.
      expectRows(got[name]!, [
        mix([
          [0.25, row("x", name, 2)],
          [0.75, row("y", name, 0)],
        ]),
        mix([
          [0.25, row("x", name, 0)],
          [0.75, row("y", name, 1)],
        ]),
        mix([
          [0.25, row("x", name, 1)],
          [0.75, row("y", name, 2)],
        ]),
      ]);
    }
    // Every other tensor is the plain linear merge.
    const up = "model.layers.0.mlp.up_proj.weight";
    const [x, y] = [weights.get("x")![up]!, weights.get("y")![up]!];
    got[up]!.forEach((v, i) => {
      expect(v).toBeCloseTo(0.25 * x[i]! + 0.75 * y[i]!, 6);
    });
  });

  test("base: a lacking model takes the base's row; padding rows dropped", async () => {
    const { out, config, got } = await merge(
      "merge_method: linear\nbase_model: @/base\nparameters: {weight: 1}\nmodels:\n  - model: @/p\n  - model: @/q\ntokenizer_source: base\n",
    );
    expect(readFileSync(join(out, "tokenizer.json"), "utf8")).toBe(chars("ab"));
    expect(config.vocab_size).toBe(2);
    const third = 1 / 3;
    for (const name of VOCAB) {
      // base: a b (+2 padding rows); p: a c; q: b c d. Each of p, q lacks one of a, b.
      expectRows(got[name]!, [
        mix([
          [third, row("base", name, 0)],
          [third, row("p", name, 0)],
          [third, row("base", name, 0)],
        ]),
        mix([
          [third, row("base", name, 1)],
          [third, row("base", name, 1)],
          [third, row("q", name, 0)],
        ]),
      ]);
    }
  });

  test("a model without tokenizer.json shares the base's; tokens no merged model has are zeros", async () => {
    // The base is x (the first model); z is outside the merge: z a b.
    const { out, config, got } = await merge(`${linear2("x", "bare")}tokenizer_source: @/z\n`);
    expect(readFileSync(join(out, "tokenizer.json"), "utf8")).toBe(chars("zab"));
    expect(config.vocab_size).toBe(3);
    for (const name of VOCAB) {
      expectRows(got[name]!, [
        new Float64Array(HIDDEN),
        mix([
          [0.25, row("x", name, 0)],
          [0.75, row("bare", name, 0)],
        ]),
        mix([
          [0.25, row("x", name, 1)],
          [0.75, row("bare", name, 1)],
        ]),
      ]);
    }
  });

  test("one vocabulary everywhere: the plain merge, bit for bit", async () => {
    const plain = await merge(linear2("x", "x2"));
    for (const source of ["@/x2", "base"]) {
      const extra = source === "base" ? "base_model: @/x\n" : "";
      const named = await merge(`${linear2("x", "x2")}${extra}tokenizer_source: ${source}\n`);
      expect(readFileSync(join(named.out, "tokenizer.json"), "utf8")).toBe(chars("abc"));
      expect(named.config).toEqual(plain.config);
      for (const [name, w] of Object.entries(plain.got)) expect(named.got[name], name).toEqual(w);
    }
  });

  test("a BPE source with an added token also in its vocab: listed once, its row donated", async () => {
    const { out, config, got } = await merge(`${linear2("bpe", "ba")}tokenizer_source: @/bpe\n`);
    expect(readFileSync(join(out, "tokenizer.json"), "utf8")).toBe(BPE);
    expect(config.vocab_size).toBe(3);
    for (const name of VOCAB) {
      // bpe: a b <s>; ba: b a (no <s>: the only model that has it gives its row).
      expectRows(got[name]!, [
        mix([
          [0.25, row("bpe", name, 0)],
          [0.75, row("ba", name, 1)],
        ]),
        mix([
          [0.25, row("bpe", name, 1)],
          [0.75, row("ba", name, 0)],
        ]),
        row("bpe", name, 2),
      ]);
    }
  });

  test("a tokenizer_source without tokenizer.json: one line", async () => {
    const yaml = `${linear2("x", "bare")}tokenizer_source: @/bare\n`;
    await expect(
      runMerge(yaml.replaceAll("@", tmp), { out: join(tmp, "refused") }),
    ).rejects.toThrow(
      /^tokenizer_source ".*bare": model .*bare has no tokenizer\.json to take the vocabulary from; name a model that has one$/,
    );
  });

  test("a base without tokenizer.json: the models without one share the source's vocabulary", async () => {
    const { got } = await merge(`${linear2("bare", "y")}tokenizer_source: @/x\n`);
    for (const name of VOCAB) {
      // x: a b c (so bare too); y: c a b.
      expectRows(
        got[name]!,
        [1, 2, 0].map((yId, id) =>
          mix([
            [0.25, row("bare", name, id)],
            [0.75, row("y", name, yId)],
          ]),
        ),
      );
    }
  });
});
