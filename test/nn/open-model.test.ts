/**
 * openModel: a run folder, its checkpoint/ folder and a model folder open to the same numbers and
 * tokenizer as were saved; `tokenizer` overrides; bad specs are one UsageError line and leak no
 * arrays.
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ByteTokenizer, CharTokenizer } from "../../src/data/tokenizer.js";
import { tokenizerFileText } from "../../src/data/tokenizer-file.js";
import { UsageError } from "../../src/engine/errors.js";
import * as tree from "../../src/engine/tree.js";
import { initLlama } from "../../src/nn/llama.js";
import { llamaPreset } from "../../src/nn/llama-config.js";
import { openModel } from "../../src/nn/open-model.js";
import { saveModel } from "../../src/nn/pretrained.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { validateConfig } from "../../src/train/config.js";
import { train } from "../../src/train/trainer.js";
import { liveBuffers, setup } from "../helpers/engine.js";

let root: string;
let run: string;
const text = "the quick brown fox jumps over the lazy dog. ".repeat(40);

beforeAll(async () => {
  await setup();
  root = mkdtempSync(join(tmpdir(), "rankwise-open-"));
  writeFileSync(join(root, "corpus.txt"), text);
  run = join(root, "run");
  const config = validateConfig({
    model: "tiny",
    data: join(root, "corpus.txt"),
    seqLen: 16,
    batchSize: 2,
    steps: 2,
    sampleLength: 0,
    warmup: 0,
  });
  await train({ config, out: run, quiet: true });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const bits = (a: np.Array) => {
  const data = a.ref.dataSync() as Float32Array;
  return Array.from(new Uint32Array(data.buffer, data.byteOffset, data.length));
};
const sameParams = (a: Record<string, np.Array>, b: Record<string, np.Array>) => {
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  for (const k of Object.keys(a)) expect(bits(b[k])).toEqual(bits(a[k]));
};

/** A model folder of a random tiny model with the given tokenizer file (or none). */
function modelFolder(name: string, tokenizer?: string, vocab = 30) {
  const dir = join(root, name);
  const config = llamaPreset("tiny", vocab);
  const params = initLlama(config, 3);
  return saveModel(dir, { config, params }).then(() => {
    if (tokenizer !== undefined) writeFileSync(join(dir, "tokenizer.json"), tokenizer);
    return { dir, config, params };
  });
}

describe("openModel", () => {
  test("a run folder opens as its checkpoint: parameters, config and the run's tokenizer", async () => {
    const ck = await loadCheckpoint(run);
    const opened = await openModel(run);
    expect(opened.source).toEqual({ kind: "run", path: run });
    expect(opened.config).toEqual(ck.modelConfig);
    expect(opened.tokenizer.toJSON()).toEqual(ck.meta.tokenizer);
    expect(opened.trainer?.step).toBe(2);
    sameParams(ck.params, opened.params);
    tree.dispose(ck.params);
    tree.dispose(ck.optState);
    tree.dispose(opened.params);
  });

  test("a run whose save was cut between its two renames opens (the save is completed)", async () => {
    const copy = join(root, "cut-run");
    cpSync(run, copy, { recursive: true });
    renameSync(join(copy, "checkpoint"), join(copy, "checkpoint.tmp-999999"));
    const opened = await openModel(copy);
    expect(opened.source.kind).toBe("run");
    expect(existsSync(join(copy, "checkpoint", "tokenizer.json"))).toBe(true);
    tree.dispose(opened.params);
  });

  test("the run's checkpoint/ folder is itself a model folder with the same tokenizer", async () => {
    const fromRun = await openModel(run);
    const folder = await openModel(join(run, "checkpoint"));
    expect(folder.source.kind).toBe("folder");
    expect(folder.tokenizer).toBeInstanceOf(CharTokenizer);
    expect(folder.tokenizer.toJSON()).toEqual(fromRun.tokenizer.toJSON());
    sameParams(fromRun.params, folder.params);
    tree.dispose(fromRun.params);
    tree.dispose(folder.params);
  });

  test("a model folder opens with its tokenizer.json; --tokenizer overrides it", async () => {
    const char = CharTokenizer.fromText("abcdefghij");
    const { dir, config, params } = await modelFolder("folder", tokenizerFileText(char), 256);
    const opened = await openModel(dir);
    expect(opened.source).toEqual({ kind: "folder", path: dir });
    expect(opened.config).toEqual(config);
    expect(opened.tokenizer.toJSON()).toEqual(char.toJSON());
    sameParams(params, opened.params);
    tree.dispose(opened.params);

    const byte = await openModel(dir, { tokenizer: "byte" });
    expect(byte.tokenizer).toBeInstanceOf(ByteTokenizer);
    tree.dispose(byte.params);
    const learned = await openModel(dir, { tokenizer: "char", text: "zyx" });
    expect(learned.tokenizer.toJSON()).toEqual({ type: "char", vocab: ["x", "y", "z"] });
    tree.dispose(learned.params);
    tree.dispose(params);
  });

  test("bad specs and misfits are one line, and leak nothing", async () => {
    const { dir, params } = await modelFolder("small-vocab", undefined, 30);
    tree.dispose(params);
    const file = join(root, "corpus.txt");
    const empty = join(root, "empty");
    mkdirSync(empty);
    const before = await liveBuffers();
    const cases: [string, object, RegExp][] = [
      [
        join(root, "nope"),
        {},
        /no model at .*nope: expected a run folder, a model folder or a Hub id/,
      ],
      [file, {}, /corpus\.txt is a file; the model must be/],
      [empty, {}, /empty is neither a run folder \(no checkpoint\/\) nor a model folder/],
      [dir, {}, /has no tokenizer\.json; give one with --tokenizer byte\|char\|<tokenizer\.json>/],
      [dir, { tokenizer: "byte" }, /the tokenizer has 256 tokens but the model's vocab_size is 30/],
      [dir, { tokenizer: "char" }, /--tokenizer char learns its vocabulary from a corpus/],
      [dir, { tokenizer: "wordpiece" }, /--tokenizer must be char, byte or a tokenizer\.json file/],
    ];
    for (const [spec, options, message] of cases) {
      const error = await openModel(spec, options).catch((e) => e);
      expect(error).toBeInstanceOf(UsageError);
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain("\n");
    }
    expect(await liveBuffers()).toBe(before);
  });
});
