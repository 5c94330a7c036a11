/**
 * `runMerge` against tools/fixtures/mergekit_reference.py (mergekit's math in torch, written from
 * its code): linear, task_arithmetic, ties, breadcrumbs(_ties) with gradients and filters, slices, and
 * slerp (H12's method, here through the whole config → folder path),
 * each to 1e-5; the output folder's layout (config.json, weights, shards + index,
 * mergekit_config.yml, tokenizer_source); a `model+adapter` reference equals PEFT's merge
 * (test/fixtures/peft, from tools/fixtures/peft_lora.py).
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CharTokenizer } from "../../src/data/tokenizer.js";
import { tokenizerFileText } from "../../src/data/tokenizer-file.js";
import * as tree from "../../src/engine/tree.js";
import { loadSafetensors } from "../../src/io/safetensors.js";
import { loadModel } from "../../src/nn/pretrained.js";
import { runMerge } from "../../src/weights/merge/run.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";

const FIXTURES = resolve("test/fixtures/merge");
let tmp: string;
let models: string;

beforeAll(async () => {
  await setup();
  tmp = mkdtempSync(join(tmpdir(), "rankwise-merge-"));
  // A copy of the fixture models, with tokenizer.json files that tell base and a apart.
  models = join(tmp, "models");
  cpSync(join(FIXTURES, "models"), models, { recursive: true });
  writeFileSync(
    join(models, "base", "tokenizer.json"),
    tokenizerFileText(CharTokenizer.fromText("abc def")),
  );
  writeFileSync(
    join(models, "a", "tokenizer.json"),
    tokenizerFileText(CharTokenizer.fromText("xyz")),
  );
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const yamlOf = (name: string, extra: Record<string, unknown> = {}) => {
  const text = readFileSync(join(FIXTURES, name, "config.yml"), "utf8").replaceAll(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the fixtures' placeholder, literally
    "${MODELS}",
    models,
  );
  // The fixtures are JSON (a subset of YAML); extra keys are added to the parsed object.
  return Object.keys(extra).length === 0 ? text : JSON.stringify({ ...JSON.parse(text), ...extra });
};

function maxAbsDiff(a: np.Array, b: np.Array): number {
  const x = read(a);
  const y = read(b);
  expect(x.length).toBe(y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

async function expectMatches(outDir: string, expectedFile: string) {
  const got = await loadModel(outDir);
  const want = (await loadSafetensors(expectedFile)).tensors;
  try {
    expect(Object.keys(got.params).sort()).toEqual(Object.keys(want).sort());
    for (const [name, w] of Object.entries(want)) {
      expect(got.params[name]!.shape, name).toEqual(w.shape);
      expect(maxAbsDiff(got.params[name]!, w), name).toBeLessThanOrEqual(1e-5);
    }
  } finally {
    tree.dispose([got.params, want]);
  }
}

describe("mergekit reference merges", () => {
  for (const name of [
    "linear",
    "task_arithmetic",
    "ties",
    "breadcrumbs",
    "breadcrumbs_ties",
    "slices",
    "slerp",
  ]) {
    test(`${name} matches the reference to 1e-5`, async () => {
      const out = join(tmp, `out-${name}`);
      const text = yamlOf(name);
      const summary = await runMerge(text, { out });
      await expectMatches(out, join(FIXTURES, name, "expected.safetensors"));
      expect(readFileSync(join(out, "mergekit_config.yml"), "utf8")).toBe(text);
      const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
      expect(config.num_hidden_layers).toBe(name === "slices" ? 3 : 2);
      expect(summary.layers).toBe(config.num_hidden_layers);
      expect(summary.files).toContain("model.safetensors");
    });
  }
});

describe("output folder", () => {
  test("shards past --max-shard-size, with an index that loadModel reads", async () => {
    const out = join(tmp, "sharded");
    const summary = await runMerge(yamlOf("ties"), { out, maxShardBytes: 8000 });
    const index = JSON.parse(readFileSync(join(out, "model.safetensors.index.json"), "utf8"));
    const shards = new Set(Object.values(index.weight_map));
    expect(shards.size).toBeGreaterThan(2);
    expect(existsSync(join(out, "model.safetensors"))).toBe(false);
    expect(summary.files.filter((f) => f.startsWith("model-")).length).toBe(shards.size);
    await expectMatches(out, join(FIXTURES, "ties", "expected.safetensors"));
  });

  test("streams: no merged output stays alive once written, and the merge leaks none", async () => {
    const before = await liveBuffers();
    const alive = async (name: string, maxShardBytes?: number) => {
      const during: Promise<number>[] = [];
      await runMerge(yamlOf("ties"), {
        out: join(tmp, name),
        maxShardBytes,
        onTensor: () => during.push(liveBuffers()),
      });
      return (await Promise.all(during)).map((n) => n - before);
    };
    // Each tensor is written to its shard file as soon as it is merged (io/safetensors-stream.ts):
    // nothing is kept, whether the shard is one file or one tensor per file.
    const oneShard = await alive("streamed");
    expect(oneShard).toHaveLength(21);
    expect(Math.max(...oneShard)).toBeLessThanOrEqual(0);
    expect(Math.max(...(await alive("streamed-shards", 1)))).toBeLessThanOrEqual(0);
    expect(await liveBuffers()).toBe(before);
  });

  test("a merge that fails midway leaks no array and leaves no folder", async () => {
    const before = await liveBuffers();
    const out = join(tmp, "fails");
    const text = JSON.stringify({
      merge_method: "ties",
      base_model: `${models}/base`,
      models: [{ model: `${models}/a`, parameters: { weight: 1, density: 0.01 } }],
    });
    await expect(runMerge(text, { out, maxShardBytes: 1 })).rejects.toThrow(
      /^model\.layers\.0\.input_layernorm\.weight: density 0\.01 keeps no entry/,
    );
    expect(existsSync(out)).toBe(false);
    expect(await liveBuffers()).toBe(before);
  });

  test("tokenizer_source: the base by default, or the model named", async () => {
    const byDefault = join(tmp, "tok-default");
    await runMerge(yamlOf("task_arithmetic"), { out: byDefault });
    expect(readFileSync(join(byDefault, "tokenizer.json"), "utf8")).toBe(
      readFileSync(join(models, "base", "tokenizer.json"), "utf8"),
    );
    const named = join(tmp, "tok-a");
    await runMerge(yamlOf("task_arithmetic", { tokenizer_source: `${models}/a` }), { out: named });
    expect(readFileSync(join(named, "tokenizer.json"), "utf8")).toBe(
      readFileSync(join(models, "a", "tokenizer.json"), "utf8"),
    );
  });
});

test("a Hub id is read from the HF cache (HF_HUB_OFFLINE) like a model folder", async () => {
  const commit = "0123456789abcdef0123456789abcdef01234567";
  const cache = join(tmp, "hf-cache");
  const storage = join(cache, "models--rankwise-test--merge-a");
  cpSync(join(FIXTURES, "models", "a"), join(storage, "snapshots", commit), { recursive: true });
  mkdirSync(join(storage, "refs"), { recursive: true });
  writeFileSync(join(storage, "refs", "main"), commit);
  const saved = { ...process.env };
  const out = join(tmp, "from-hub");
  try {
    process.env.HF_HUB_CACHE = cache;
    process.env.HF_HUB_OFFLINE = "1";
    await runMerge(
      "merge_method: linear\nmodels:\n  - model: rankwise-test/merge-a\n    parameters: {weight: 2}\n",
      { out },
    );
  } finally {
    process.env = saved;
  }
  const got = await loadModel(out);
  const want = await loadModel(join(FIXTURES, "models", "a"));
  try {
    for (const name of Object.keys(want.params)) {
      expect(maxAbsDiff(got.params[name]!, want.params[name]!), name).toBe(0);
    }
  } finally {
    tree.dispose([got.params, want.params]);
  }
});

test("a model+adapter reference merges the PEFT adapter first (as PEFT's merge)", async () => {
  const peft = resolve("test/fixtures/peft");
  const out = join(tmp, "adapter");
  const text = `merge_method: linear\nmodels:\n  - model: ${peft}/base+${peft}/lora\n    parameters:\n      weight: 1.0\n`;
  await runMerge(text, { out });
  const got = await loadModel(out);
  const want = (await loadSafetensors(join(peft, "lora", "expected.safetensors"))).tensors;
  try {
    const merged = Object.keys(want).filter((k) => !k.startsWith("grad."));
    expect(merged.length).toBeGreaterThan(0);
    for (const name of merged) {
      expect(maxAbsDiff(got.params[name]!, want[name]!), name).toBeLessThanOrEqual(1e-5);
    }
  } finally {
    tree.dispose([got.params, want]);
  }
});
