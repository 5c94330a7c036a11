/**
 * `rankwise eval` (built CLI): it reproduces a run's own last validation loss (same split, same
 * windows, same loss); a zero-weight model scores exactly ln(vocab) on a model folder whose
 * tokenizer.json is a hand-written BPE (token and character counts worked out by hand); an
 * adapter given with --adapter scores as the merged model does; bad input is one line.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { textStream } from "../../src/cli/generate.js";
import { ByteTokenizer } from "../../src/data/tokenizer.js";
import { tokenizerFileJson, tokenizerFromFileJson } from "../../src/data/tokenizer-file.js";
import * as tree from "../../src/engine/tree.js";
import { initLlama } from "../../src/nn/llama.js";
import { llamaPreset } from "../../src/nn/llama-config.js";
import { saveModel } from "../../src/nn/pretrained.js";
import { createAdapter, loraConfig, merge, saveAdapter } from "../../src/peft/index.js";
import { setup } from "../helpers/engine.js";
import { cli, cliOk, FAST, metrics, requireBuild, tempDir } from "./run-cli.js";

/** Exit code 2 and a single "rankwise: ..." line matching the pattern. */
function expectUsageError(args: string[], pattern: RegExp): void {
  const r = cli(args);
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  expect(r.status, r.stderr).toBe(2);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^rankwise: /);
  expect(lines[0]).toMatch(pattern);
}

const evalJson = (args: string[]) => JSON.parse(cliOk(["eval", ...args, "--json"]).stdout.trim());

let dir: string;
let run: string;

beforeAll(async () => {
  requireBuild();
  await setup();
  dir = tempDir();
  run = join(dir, "run");
  cliOk(["train", ...FAST, "--steps", "3", "--data", "sotu", "--seed", "4", "--out", run]);
});

describe("eval", () => {
  test("a run's folder gives its own last validation loss (its data, split and windows)", () => {
    const last = metrics(run)
      .filter((r) => r.type === "eval")
      .at(-1)!;
    // The run evaluated 8 batches (--eval-batches default) of 4 windows of 16 tokens.
    const r = evalJson([run, "--eval-batches", "8"]);
    expect(r).toMatchObject({
      loss: last.valLoss,
      perplexity: Math.exp(last.valLoss as number),
      bitsPerChar: last.bitsPerChar,
      tokens: 8 * 4 * 16,
    });
    // The run's checkpoint/ is a model folder: the same numbers with the same settings.
    const folder = evalJson([
      join(run, "checkpoint"),
      ...["--data", "sotu", "--seq-len", "16", "--batch-size", "4", "--eval-batches", "8"],
    ]);
    expect(folder).toEqual(r);
  });

  test("a zero model on a hand-written BPE tokenizer scores ln(vocab); tokens and chars by hand", async () => {
    const folder = join(dir, "bpe-model");
    const byteLevel = { type: "ByteLevel", add_prefix_space: false, use_regex: true };
    const vocab = { a: 0, b: 1, c: 2, Ġ: 3, ab: 4, abc: 5, Ġa: 6 };
    const config = llamaPreset("tiny", 7);
    const random = initLlama(config, 1);
    const params = Object.fromEntries(Object.entries(random).map(([k, v]) => [k, np.zerosLike(v)]));
    await saveModel(folder, { config, params });
    tree.dispose(params);
    writeFileSync(
      join(folder, "tokenizer.json"),
      JSON.stringify({
        version: "1.0",
        added_tokens: [],
        normalizer: null,
        pre_tokenizer: byteLevel,
        post_processor: null,
        decoder: byteLevel,
        model: { type: "BPE", unk_token: null, vocab, merges: ["a b", "ab c", "Ġ a"] },
      }),
    );
    // "abc ab cab a" → abc Ġ ab Ġ c ab Ġa (7 tokens); each further " abc ab cab a" → Ġ abc Ġ ab
    // Ġ c ab Ġa (8 tokens, the leading " abc" is Ġ + abc: (Ġ,abc) is no merge).
    const k = 100;
    const corpus = join(dir, "abc.txt");
    writeFileSync(corpus, Array(k).fill("abc ab cab a").join(" "));
    const first = [5, 3, 4, 3, 2, 4, 6];
    const more = [3, 5, 3, 4, 3, 2, 4, 6];
    const ids = [...first, ...Array.from({ length: k - 1 }, () => more).flat()];
    const chars = [1, 1, 1, 1, 2, 3, 2]; // characters per token id
    const val = ids.slice(ids.length - Math.floor(ids.length * 0.1));
    const valChars = val.reduce((n, id) => n + chars[id]!, 0);
    const seqLen = 8;
    const windows = Math.floor((val.length - 1) / seqLen);
    const batches = Math.floor(windows / 4);

    const r = evalJson([folder, "--data", corpus, "--seq-len", `${seqLen}`, "--batch-size", "4"]);
    expect(r.loss).toBeCloseTo(Math.log(7), 5); // float32 log-sum-exp
    expect(r.perplexity).toBeCloseTo(7, 4);
    expect(r.bitsPerChar).toBeCloseTo((Math.log2(7) * val.length) / valChars, 5);
    expect(r.tokens).toBe(batches * 4 * seqLen);
    // A character outside the vocabulary is one line.
    writeFileSync(join(dir, "abd.txt"), "abd ".repeat(100));
    expectUsageError(
      ["eval", folder, "--data", join(dir, "abd.txt")],
      /--data .*abd\.txt does not fit the model's tokenizer: "d" is not in the tokenizer's vocabulary/,
    );
  });

  test("--adapter scores as the merged model", async () => {
    const base = join(dir, "base");
    const tokenizer = readFileSync(join(run, "checkpoint", "tokenizer.json"));
    const config = llamaPreset("tiny", Object.keys(JSON.parse(`${tokenizer}`).model.vocab).length);
    const params = initLlama(config, 2);
    await saveModel(base, { config, params });
    writeFileSync(
      join(base, "tokenizer.json"),
      readFileSync(join(run, "checkpoint", "tokenizer.json")),
    );
    const lora = loraConfig({ r: 2, loraAlpha: 4, targetModules: ["q_proj", "v_proj"] });
    const created = createAdapter(params, lora, { seed: 1 });
    // B starts at zero (no change): make it non-zero so the adapter matters.
    const adapter = { ...created.params };
    for (const key of Object.keys(adapter)) {
      if (key.endsWith("lora_B.weight")) {
        const shape = adapter[key]!.shape;
        adapter[key]!.dispose();
        adapter[key] = np.full(shape, 0.2);
      }
    }
    await saveAdapter(join(dir, "adapter"), { config: created.config, params: adapter });
    const merged = merge(params, adapter, created.plan);
    await saveModel(join(dir, "merged"), { config, params: merged.params });
    writeFileSync(
      join(dir, "merged", "tokenizer.json"),
      readFileSync(join(base, "tokenizer.json")),
    );
    const adapterElements = Object.values(adapter).reduce((n, a) => n + a.size, 0);
    tree.dispose([params, adapter, merged.params]);

    const flags = ["--data", "sotu", "--seq-len", "16", "--batch-size", "4", "--eval-batches", "4"];
    const withAdapter = evalJson([base, "--adapter", join(dir, "adapter"), ...flags]);
    const plain = evalJson([base, ...flags]);
    // Same scores; the sizes count the base's and the adapter's stored tensors.
    const asMerged = evalJson([join(dir, "merged"), ...flags]);
    expect(withAdapter).toEqual({
      ...asMerged,
      parameters: withAdapter.parameters,
      parameterBytes: withAdapter.parameterBytes,
    });
    expect(withAdapter.parameters).toBe(asMerged.parameters + adapterElements);
    expect(withAdapter.parameterBytes).toBe(4 * withAdapter.parameters);
    expect(withAdapter.loss).not.toBe(plain.loss);
  });

  test("a model folder with a BPE tokenizer.json fine-tunes, and the run evaluates lower", async () => {
    const base = join(dir, "bpe-random");
    const config = llamaPreset("tiny", 7);
    const params = initLlama(config, 6);
    await saveModel(base, { config, params });
    tree.dispose(params);
    writeFileSync(
      join(base, "tokenizer.json"),
      readFileSync(join(dir, "bpe-model", "tokenizer.json")),
    );
    const data = ["--data", join(dir, "abc.txt"), "--seq-len", "16", "--batch-size", "4"];
    const before = evalJson([base, ...data]);
    const ft = join(dir, "bpe-ft");
    cliOk([
      ...["finetune", "--model", base, "--adapter", "lora", "--steps", "20", "--lr", "1e-2"],
      ...[...data, "--quiet", "--out", ft],
    ]);
    const after = evalJson([ft, ...data]);
    expect(after.tokens).toBe(before.tokens);
    expect(after.loss).toBeLessThan(before.loss);
  });

  test("a fine-tuning run opens as its base + adapter/, in eval and generate", () => {
    const ft = join(dir, "ft");
    cliOk([
      ...["finetune", "--model", run, "--data", "sotu", "--adapter", "lora", "--rank", "2"],
      ...["--steps", "2", "--seq-len", "16", "--batch-size", "4", "--quiet", "--out", ft],
    ]);
    const last = metrics(ft)
      .filter((r) => r.type === "eval")
      .at(-1)!;
    const own = evalJson([ft, "--eval-batches", "8"]);
    expect(own.loss).toBe(last.valLoss);
    const flags = ["--data", "sotu", "--seq-len", "16", "--batch-size", "4", "--eval-batches", "8"];
    expect(evalJson([run, "--adapter", join(ft, "adapter"), ...flags])).toEqual(own);
    const sample = ["--length", "30", "--seed", "3"];
    expect(cliOk(["generate", ft, ...sample]).stdout).toBe(
      cliOk(["generate", run, "--adapter", join(ft, "adapter"), ...sample]).stdout,
    );
  });

  test("generate streams an HF tokenizer's text; --adapter samples as the merged model", () => {
    // The zero model's logits tie, so greedy sampling picks id 0 ("a") every time.
    const greedy = ["--length", "5", "--temperature", "0"];
    const zero = join(dir, "bpe-model");
    expect(cliOk(["generate", zero, "--prompt", "cab ", ...greedy]).stdout).toBe("cab aaaaa\n");
    const sample = ["--length", "40", "--seed", "7", "--prompt", "the "];
    const adapted = cliOk([
      "generate",
      join(dir, "base"),
      "--adapter",
      join(dir, "adapter"),
      ...sample,
    ]);
    expect(adapted.stdout).toBe(cliOk(["generate", join(dir, "merged"), ...sample]).stdout);
    expect(adapted.stdout).not.toBe(cliOk(["generate", join(dir, "base"), ...sample]).stdout);
  });

  test("bad input is one line", () => {
    const model = join(run, "checkpoint");
    expectUsageError(["eval", join(dir, "nope"), "--data", "sotu"], /no model at .*nope/);
    expectUsageError(["eval", model], /--data is required for a model folder or Hub id/);
    expectUsageError(
      ["eval", run, "--data", "no-such-corpus"],
      /--data: unknown corpus "no-such-corpus"/,
    );
    expectUsageError(["eval", run, "--seq-len", "0"], /--seq-len must be an integer/);
    expectUsageError(
      ["eval", run, "--seq-len", "4096"],
      /--seq-len 4096 is longer than the model's context/,
    );
    expectUsageError(
      ["eval", run, "--tokenizer", "words"],
      /--tokenizer must be char, byte or a tokenizer\.json file; got "words"/,
    );
    expectUsageError(
      ["eval", run, "--tokenizer", "byte"],
      /the tokenizer has 256 tokens but the model's vocab_size is/,
    );
    expectUsageError(
      ["eval", run, "--adapter", join(dir, "nope")],
      /--adapter .*nope: no such adapter folder/,
    );
    writeFileSync(join(dir, "tiny.txt"), "abc");
    expectUsageError(
      ["eval", run, "--data", join(dir, "tiny.txt"), "--tokenizer", "char"],
      /is too small for --seq-len 16/,
    );
  });
});

describe("generate's text stream", () => {
  test("an HF tokenizer's text continues the prompt's (a word's leading space is kept)", () => {
    const metaspace = {
      type: "Metaspace",
      replacement: "▁",
      prepend_scheme: "always",
      split: true,
    };
    const chars = ["▁", "t", "h", "e", "c", "a", "s"];
    const merged = ["▁t", "▁th", "▁the", "▁c", "▁ca", "▁cat"];
    const vocab = Object.fromEntries([...chars, ...merged].map((t, i) => [t, i]));
    const tok = tokenizerFromFileJson({
      added_tokens: [],
      normalizer: null,
      pre_tokenizer: metaspace,
      post_processor: null,
      decoder: metaspace,
      model: {
        type: "BPE",
        unk_token: null,
        vocab,
        merges: ["▁ t", "▁t h", "▁th e", "▁ c", "▁c a", "▁ca t"],
      },
    });
    const prompt = tok.encode("the");
    expect(Array.from(prompt)).toEqual([vocab["▁the"]]);
    const stream = textStream(tok, prompt);
    const out = ["the", stream.push(vocab["▁cat"]!), stream.push(vocab.s!), stream.finish()];
    expect(out).toEqual(["the", " cat", "s", ""]);
    // Decoding the new tokens alone would lose the space: "cats".
    expect(tok.decode([vocab["▁cat"]!, vocab.s!])).toBe("cats");
  });

  test("bytes of one character are held until it is whole", () => {
    const tok = new ByteTokenizer();
    const stream = textStream(tok, tok.encode(""));
    const bytes = Array.from(new TextEncoder().encode("é!"));
    expect(bytes.map((b) => stream.push(b))).toEqual(["", "é", "!"]);
    const hf = tokenizerFromFileJson({ ...tokenizerFileJson(tok), decoder: { type: "ByteLevel" } });
    expect(hf.constructor.name).toBe("HfTokenizer"); // the HF path, not Rankwise's own class
    const hfStream = textStream(hf, hf.encode(""));
    expect(bytes.map((b) => hfStream.push(b))).toEqual(["", "é", "!"]);
  });
});
