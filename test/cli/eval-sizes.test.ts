/**
 * `eval`'s size and sparsity fields (cli/eval-sizes.ts): parameters and parameterBytes are the
 * stored tensors' elements and data bytes, read from hand-written safetensors headers (int8 and
 * float16 entries, a sharded folder); on a run and on a pruned copy, `eval --json` gives the
 * parameter count of the model's configuration, 4 bytes each (float32), and the share of zeros
 * counted here in the decoder linear weights.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { storedSize, storedWeightFiles } from "../../src/cli/eval-sizes.js";
import * as tree from "../../src/engine/tree.js";
import { llamaParamCount } from "../../src/nn/llama.js";
import type { LlamaConfig } from "../../src/nn/llama-config.js";
import { loadModel } from "../../src/nn/pretrained.js";
import { read, setup } from "../helpers/engine.js";
import { cliOk, FAST, requireBuild, tempDir } from "./run-cli.js";

/** A safetensors file written by hand: 8-byte length, JSON header padded with spaces, data. */
function writeSafetensors(path: string, entries: [string, string, number[], number][]): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, dtype, shape, bytes] of entries) {
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const out = Buffer.alloc(8 + json.length + offset);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  out.write(json, 8, "utf8");
  writeFileSync(path, out);
}

describe("stored sizes from the headers", () => {
  test("an int8 tensor with float16 scales counts as stored", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "config.json"), "{}");
    writeSafetensors(join(dir, "model.safetensors"), [
      ["a.qweight", "I8", [4, 6], 24],
      ["a.scales", "F16", [4, 1], 8],
      ["b.lowrank_a.weight", "F32", [2, 6], 48],
    ]);
    expect(storedWeightFiles(dir)).toEqual([join(dir, "model.safetensors")]);
    expect(await storedSize(storedWeightFiles(dir))).toEqual({
      parameters: 24 + 4 + 12,
      parameterBytes: 24 + 8 + 48,
    });
  });

  test("a sharded folder counts each shard once", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "config.json"), "{}");
    writeSafetensors(join(dir, "s1.safetensors"), [["x", "F32", [3], 12]]);
    writeSafetensors(join(dir, "s2.safetensors"), [
      ["y", "BF16", [5], 10],
      ["z", "F32", [1], 4],
    ]);
    const weight_map = { x: "s1.safetensors", y: "s2.safetensors", z: "s2.safetensors" };
    writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map }));
    const adapter = join(dir, "adapter");
    mkdirSync(adapter);
    writeSafetensors(join(adapter, "adapter_model.safetensors"), [["l", "F32", [2, 2], 16]]);
    expect(await storedSize(storedWeightFiles(dir, adapter))).toEqual({
      parameters: 3 + 5 + 1 + 4,
      parameterBytes: 12 + 10 + 4 + 16,
    });
  });
});

describe("eval --json", () => {
  let dir: string;
  let run: string;

  beforeAll(async () => {
    requireBuild();
    await setup();
    dir = tempDir();
    run = join(dir, "run");
    cliOk(["train", ...FAST, "--steps", "2", "--seed", "3", "--out", run]);
  });

  /** Zeros among the decoder linear weights, counted here. */
  async function zeroShare(folder: string): Promise<{ share: number; config: LlamaConfig }> {
    const model = await loadModel(folder);
    let zeros = 0;
    let total = 0;
    for (const [name, w] of Object.entries(model.params)) {
      if (!/_proj\.weight$/.test(name)) continue;
      const data = read(w);
      zeros += data.filter((v) => v === 0).length;
      total += data.length;
    }
    tree.dispose(model.params);
    return { share: zeros / total, config: model.config as LlamaConfig };
  }

  test("a run and its pruned copy: count, float32 bytes and the share of zeros", async () => {
    const pruned = join(dir, "pruned");
    cliOk(["prune", run, "--method", "magnitude", "--sparsity", "0.5", "--out", pruned]);
    for (const [model, folder] of [
      [run, join(run, "checkpoint")],
      [pruned, pruned],
    ]) {
      const { share, config } = await zeroShare(folder);
      const ev = JSON.parse(
        cliOk(["eval", model, "--data", "moby-dick", "--eval-batches", "1", "--json"]).stdout,
      );
      expect(ev.parameters).toBe(llamaParamCount(config));
      expect(ev.parameterBytes).toBe(4 * llamaParamCount(config));
      expect(ev.sparsity).toBeCloseTo(share, 12);
      if (model === pruned) expect(ev.sparsity).toBeCloseTo(0.5, 2);
    }
    const text = cliOk(["eval", pruned, "--data", "moby-dick", "--eval-batches", "1"]).stdout;
    expect(text).toMatch(/^sparsity 50\.\d\d% {2}parameters \d+ {2}bytes \d+$/m);
  });
});
