/**
 * Peak memory of `rankwise merge` on large inputs (issue 12): merging is streamed tensor by
 * tensor (src/weights/merge/run.ts, sources.ts), so its peak should be the process's baseline
 * plus about one tensor per model (and the output shard being filled), not the sum of the
 * models.
 *
 * Three synthetic LLaMA model folders, wide enough that holding them all would show at once
 * (vocab 4096, hidden 1024, intermediate 2816, 8 layers: 111M float32 parameters, ≈ 445 MB
 * each), are written to a temporary folder by the library's own writer (nn/pretrained.ts
 * `saveModel`, random weights from `initLlama` with seeds 0, 1, 2) and deleted afterwards. They
 * are merged by `rankwise merge` (the CLI in a child process) with linear (all three, weights
 * 1/3) with output shards of 100 MB and of 20 MB (the shard being filled is held until written,
 * so its size shows in the peak), and ties (base = the first, density 0.5, weight 0.5 each) with
 * 20 MB shards. Recorded per merge: the command's own peak RSS line,
 * the child process's peak RSS (maxrss), its RSS before the command ran, wall time, and
 * beside them the sum of the models' sizes and the largest tensor.
 *
 *   npm run bench -- merge-memory        # ≈ 1.3 GB of temporary files; ties takes the longest
 *
 * Writes bench/results/merge-memory.json.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { cliMany } from "./cli-runs.js";
import {
  isChild,
  load1,
  log,
  machine,
  reportToParent,
  round,
  runScript,
  writeResult,
} from "./common.js";

/** The synthetic models' configuration (HF config.json names). */
const CONFIG = {
  vocab_size: 4096,
  hidden_size: 1024,
  intermediate_size: 2816,
  num_hidden_layers: 8,
  num_attention_heads: 16,
};
const MODELS = 3;
/** Output shard sizes: the shard being filled is held until written, so it shows in the peak. */
const SHARDS = [100_000_000, 20_000_000];

/** Child: write `MODELS` model folders under `dir` with the library's writer. */
async function generateChild(dir: string): Promise<void> {
  const { startEngine } = await import("./engine.js");
  await startEngine();
  const tree = await import("../src/engine/tree.js");
  const { initLlama, llamaParamShapes } = await import("../src/nn/llama.js");
  const { llamaConfig } = await import("../src/nn/llama-config.js");
  const { saveModel } = await import("../src/nn/pretrained.js");
  const config = llamaConfig(CONFIG);
  const shapes = Object.values(llamaParamShapes(config)).map((s) => s.reduce((a, b) => a * b, 1));
  for (let i = 0; i < MODELS; i++) {
    const params = initLlama(config, i);
    try {
      await saveModel(join(dir, `model-${i}`), { config, params });
    } finally {
      tree.dispose(params);
    }
    log(`merge-memory: wrote model-${i}`);
  }
  reportToParent({
    parameters: shapes.reduce((a, b) => a + b, 0),
    largestTensor: Math.max(...shapes),
  });
}

const folderBytes = (dir: string): number =>
  readdirSync(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0);

const MiB = (bytes: number) => round(bytes / 2 ** 20, 1);
const PEAK = /peak memory (\d+) MiB/;

async function parent(): Promise<void> {
  const loadStart = load1();
  const started = performance.now();
  const work = mkdtempSync(join(tmpdir(), "rankwise-bench-merge-memory-"));
  try {
    log(`merge-memory: writing ${MODELS} synthetic models to ${work}`);
    const gen = await runScript<{ parameters: number; largestTensor: number }>(
      "bench/merge-memory.ts",
      1,
      [],
      { BENCH_GENERATE: work },
    );
    const models = Array.from({ length: MODELS }, (_, i) => join(work, `model-${i}`));
    const modelBytes = models.map(folderBytes);
    const linear = {
      merge_method: "linear",
      models: models.map((model) => ({ model, parameters: { weight: 1 / MODELS } })),
    };
    const ties = {
      merge_method: "ties",
      base_model: models[0],
      models: models.slice(1).map((model) => ({
        model,
        parameters: { weight: 0.5, density: 0.5 },
      })),
    };
    // linear at both shard sizes (how much of the peak the output shard is); ties, whose
    // magnitude sparsification dominates its time and memory, once, at the small shard.
    const configs = [
      ...SHARDS.map((shard) => ({ label: "linear (3 models)", shard, config: linear })),
      { label: "ties (base + 2 models)", shard: SHARDS.at(-1)!, config: ties },
    ];
    const rows = [];
    for (const [i, c] of configs.entries()) {
      const yml = join(work, `merge-${i}.yml`);
      writeFileSync(yml, stringify(c.config));
      const out = join(work, `merged-${i}`);
      log(`merge-memory: ${c.label}`);
      const [r] = await cliMany([
        ["merge", yml, "--out", out, "--max-shard-size", String(c.shard), "--quiet"],
      ]);
      const peak = PEAK.exec(r!.stdout);
      if (!peak) throw new Error(`merge printed no peak memory line: ${r!.stdout}`);
      rows.push({
        label: c.label,
        config: c.config,
        modelsRead: MODELS,
        shardMiB: MiB(c.shard),
        inputMiB: MiB(modelBytes.reduce((a, b) => a + b, 0)),
        outputMiB: MiB(folderBytes(out)),
        peakRssMiB: Number(peak[1]),
        processPeakRssMiB: round(r!.peakRssMiB, 0),
        rssBeforeMiB: round(r!.rssBeforeMiB, 0),
        mergeS: round(r!.ms / 1000, 1),
        load: r!.load,
      });
      log(`merge-memory: ${JSON.stringify(rows.at(-1))}`);
      rmSync(out, { recursive: true, force: true });
    }
    writeResult("merge-memory", {
      benchmark: "merge-memory",
      command: "npm run bench -- merge-memory",
      date: new Date().toISOString(),
      machine: machine(),
      load: { start: loadStart, end: load1() },
      threads: 1,
      modelConfig: CONFIG,
      parameters: gen.parameters,
      modelMiB: MiB(modelBytes[0]!),
      largestTensorMiB: MiB(gen.largestTensor * 4),
      table: rows,
      minutes: round((performance.now() - started) / 60000, 1),
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (isChild()) await generateChild(process.env.BENCH_GENERATE!);
else await parent();
