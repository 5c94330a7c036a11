/**
 * A Hugging Face folder read from a page's files (src/browser/model-files.ts), run here on Node's
 * Blobs of a generated sharded folder (hf-folder.ts): the same tensors, bit for bit, as the Node
 * folder reader (loadModel), the same tokenizer, and never a read larger than one tensor.
 */
import { mkdtempSync, openAsBlob, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type BlobLike, modelFromFiles } from "../../src/browser/model-files.js";
import { readTokenizerFile } from "../../src/data/tokenizer-file.js";
import { init } from "../../src/engine/init.js";
import * as tree from "../../src/engine/tree.js";
import { loadModel } from "../../src/nn/pretrained.js";
import { writeHfFolder } from "./hf-folder.js";

const dir = mkdtempSync(join(tmpdir(), "rankwise-model-files-"));
let files: Record<string, BlobLike>;
let largestRead = 0;

beforeAll(async () => {
  await init({ device: "wasm" });
  writeHfFolder(dir);
  files = {};
  for (const name of readdirSync(dir)) {
    const blob = await openAsBlob(join(dir, name));
    // Every read goes through slice: remember the largest.
    files[name] = {
      size: blob.size,
      slice: (start?: number, end?: number) => {
        const part = blob.slice(start, end);
        largestRead = Math.max(largestRead, part.size);
        return part;
      },
    };
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("the same tensors as loadModel, read one tensor at a time", async () => {
  const seen: string[] = [];
  const got = await modelFromFiles(files, (name) => seen.push(name));
  const want = await loadModel(dir);
  expect(got.config).toEqual(want.config);
  expect(Object.keys(got.params)).toEqual(Object.keys(want.params));
  for (const [k, a] of Object.entries(want.params)) {
    expect(got.params[k].shape, k).toEqual(a.shape);
    expect(await got.params[k].ref.data(), k).toEqual(await a.ref.data());
  }
  expect(seen.sort()).toEqual(Object.keys(want.params).sort());
  // The embedding is the largest tensor; no read was larger, and the files are over twice as large.
  const [vocab, dim] = want.params["model.embed_tokens.weight"].shape;
  expect(got.largestTensorBytes).toBe(vocab * dim * 4);
  expect(largestRead).toBe(got.largestTensorBytes);
  expect(got.fileBytes).toBeGreaterThan(2 * got.largestTensorBytes);
  const text = "The whale, the sea; and Ishmael.";
  expect(Array.from(got.tokenizer!.encode(text))).toEqual(
    Array.from(readTokenizerFile(dir).encode(text)),
  );
  tree.dispose([got.params, want.params]);
}, 60_000);

test("a folder without one of its shards is one line naming it", async () => {
  const partial = { ...files };
  delete partial["model-00002-of-00002.safetensors"];
  await expect(modelFromFiles(partial)).rejects.toThrow(
    'model.safetensors.index.json lists shard "model-00002-of-00002.safetensors", which the folder lacks',
  );
  const { "config.json": _, ...noConfig } = files;
  await expect(modelFromFiles(noConfig)).rejects.toThrow("the folder has no config.json");
});
