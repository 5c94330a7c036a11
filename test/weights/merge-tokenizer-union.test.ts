/**
 * `tokenizer_source: union` through runMerge, against rows computed here by hand from the input
 * weights (mergekit's rules, tokenizer/build.py and embed.py): two models with different char
 * vocabularies merged by linear (each missing token takes the only model's row that has it);
 * three models with a base (a token the base has takes the base's row, one only others have takes
 * their mean); a BPE base with a char model (the new character becomes an added token the output
 * tokenizer encodes); the same vocabulary twice is the plain merge, bit for bit; tokenizers union
 * cannot read are refused with one line; no arrays leak.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CharTokenizer } from "../../src/data/tokenizer.js";
import { readTokenizerFile, tokenizerFileText } from "../../src/data/tokenizer-file.js";
import * as tree from "../../src/engine/tree.js";
import { initLlama } from "../../src/nn/llama.js";
import { type LlamaConfig, llamaConfig } from "../../src/nn/llama-config.js";
import { loadModel, saveModel } from "../../src/nn/pretrained.js";
import { runMerge } from "../../src/weights/merge/run.js";
import { bpeTokenizerJson } from "../helpers/bpe-json.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";

let tmp: string;
/** Each model's weights as float64 copies, by model name and tensor name. */
const weights = new Map<string, Record<string, Float64Array>>();
const HIDDEN = 4;

async function model(name: string, seed: number, vocabSize: number, tokenizer: string | null) {
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
  if (tokenizer !== null) writeFileSync(join(dir, "tokenizer.json"), tokenizer);
}

const chars = (text: string) => tokenizerFileText(new CharTokenizer([...text]));

/** A BPE tokenizer.json: a, b and their merge ab. */
const BPE = JSON.stringify(bpeTokenizerJson({ vocab: { a: 0, b: 1, ab: 2 }, merges: ["a b"] }));

beforeAll(async () => {
  await setup();
  tmp = mkdtempSync(join(tmpdir(), "rankwise-union-"));
  await model("x", 1, 3, chars("abc"));
  await model("y", 2, 3, chars("bcd"));
  await model("x2", 3, 3, chars("abc"));
  await model("base", 4, 2, chars("ab"));
  await model("p", 5, 2, chars("ac"));
  await model("q", 6, 2, chars("cd"));
  await model("bpe", 7, 3, BPE);
  await model("bc", 8, 2, chars("bc"));
  await model("bare", 9, 3, null);
  await model("short", 11, 2, BPE);
  await model(
    "unigram",
    10,
    3,
    JSON.stringify({
      ...JSON.parse(BPE),
      model: {
        type: "Unigram",
        unk_id: null,
        vocab: [
          ["a", -1],
          ["b", -2],
          ["c", -2],
        ],
      },
    }),
  );
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

const VOCAB = ["model.embed_tokens.weight", "lm_head.weight"];

describe("tokenizer_source: union", () => {
  test("two char vocabularies by linear: union vocabulary, donor rows", async () => {
    const live = await liveBuffers();
    const { out, config, got } = await merge(
      "merge_method: linear\nmodels:\n  - model: @/x\n    parameters: {weight: 0.25}\n  - model: @/y\n    parameters: {weight: 0.75}\ntokenizer_source: union\n",
    );
    expect(await liveBuffers()).toBe(live);
    const tok = readTokenizerFile(join(out, "tokenizer.json"));
    expect(tok).toBeInstanceOf(CharTokenizer);
    expect((tok as CharTokenizer).vocab).toEqual(["a", "b", "c", "d"]);
    expect(config.vocab_size).toBe(4);
    for (const name of VOCAB) {
      // x: a b c = 0 1 2; y: b c d = 0 1 2. a only in x, d only in y: both models use that row.
      expectRows(got[name]!, [
        row("x", name, 0),
        mix([
          [0.25, row("x", name, 1)],
          [0.75, row("y", name, 0)],
        ]),
        mix([
          [0.25, row("x", name, 2)],
          [0.75, row("y", name, 1)],
        ]),
        row("y", name, 2),
      ]);
    }
    // Every other tensor is the plain linear merge.
    const w = got["model.layers.0.mlp.up_proj.weight"]!;
    const [x, y] = ["x", "y"].map((m) => weights.get(m)!["model.layers.0.mlp.up_proj.weight"]!);
    w.forEach((v, i) => {
      expect(v).toBeCloseTo(0.25 * x![i]! + 0.75 * y![i]!, 6);
    });
  });

  test("with a base: the base's row where it has the token, else the mean of those that do", async () => {
    const { out, got } = await merge(
      "merge_method: linear\nbase_model: @/base\nparameters: {weight: 1}\nmodels:\n  - model: @/p\n  - model: @/q\ntokenizer_source: union\n",
    );
    expect((readTokenizerFile(out) as CharTokenizer).vocab).toEqual(["a", "b", "c", "d"]);
    for (const name of VOCAB) {
      // base: a b; p: a c; q: c d. The three re-indexed models are averaged (weights 1).
      const [ba, bb] = [row("base", name, 0), row("base", name, 1)];
      const [pa, pc] = [row("p", name, 0), row("p", name, 1)];
      const [qc, qd] = [row("q", name, 0), row("q", name, 1)];
      const cMean = mix([
        [0.5, pc],
        [0.5, qc],
      ]);
      const third = 1 / 3;
      expectRows(got[name]!, [
        mix([
          [third, ba],
          [third, pa],
          [third, ba],
        ]),
        bb,
        mix([
          [third, cMean],
          [third, pc],
          [third, qc],
        ]),
        qd,
      ]);
    }
  });

  test("a BPE base and a char model: new tokens become added tokens", async () => {
    const { out, config, got } = await merge(
      "merge_method: linear\nmodels:\n  - model: @/bpe\n    parameters: {weight: 0.5}\n  - model: @/bc\n    parameters: {weight: 0.5}\ntokenizer_source: union\n",
    );
    expect(config.vocab_size).toBe(4);
    const file = JSON.parse(readFileSync(join(out, "tokenizer.json"), "utf8"));
    expect(file.model.vocab).toEqual({ a: 0, b: 1, ab: 2 });
    expect(file.added_tokens).toMatchObject([{ id: 3, content: "c", special: false }]);
    expect([...readTokenizerFile(out).encode("abc")]).toEqual([2, 3]);
    for (const name of VOCAB) {
      // bpe: a b ab; bc: b c. b is in both, c only in bc.
      expectRows(got[name]!, [
        row("bpe", name, 0),
        mix([
          [0.5, row("bpe", name, 1)],
          [0.5, row("bc", name, 0)],
        ]),
        row("bpe", name, 2),
        row("bc", name, 1),
      ]);
    }
  });

  test("the same vocabulary twice is the plain merge, bit for bit", async () => {
    const yaml =
      "merge_method: linear\nmodels:\n  - model: @/x\n    parameters: {weight: 0.3}\n  - model: @/x2\n    parameters: {weight: 0.7}\n";
    const plain = await merge(yaml);
    const union = await merge(`${yaml}tokenizer_source: union\n`);
    expect(readFileSync(join(union.out, "tokenizer.json"), "utf8")).toBe(chars("abc"));
    expect(union.config).toEqual(plain.config);
    for (const [name, w] of Object.entries(plain.got)) expect(union.got[name], name).toEqual(w);
  });

  test.each([
    ["bare", /^tokenizer_source "union": model .*bare has no tokenizer\.json; union needs/],
    [
      "unigram",
      /^tokenizer_source "union": model .*unigram has a Unigram tokenizer\.json; union accepts BPE and WordPiece tokenizer\.json files and Rankwise char vocabularies$/,
    ],
    [
      "short",
      /^tokenizer_source "union": the base model .*short's tokenizer\.json has ids past its vocab_size \(2\)/,
    ],
  ])("%s: refused with one line", async (name, message) => {
    // The model under test first where it is the base that matters.
    const [first, second] = name === "short" ? [name, "x"] : ["x", name];
    const yaml = `merge_method: linear\nmodels:\n  - model: @/${first}\n    parameters: {weight: 1}\n  - model: @/${second}\n    parameters: {weight: 1}\ntokenizer_source: union\n`;
    await expect(
      runMerge(yaml.replaceAll("@", tmp), { out: join(tmp, "refused") }),
    ).rejects.toThrow(message);
  });
});
