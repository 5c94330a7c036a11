/**
 * Peak memory of `rankwise merge` on large inputs (issue 12): merging is streamed tensor by
 * tensor for every kind of input (src/weights/merge/sources.ts and source-*.ts), and each merged
 * tensor is written to its shard file as soon as it exists (io/safetensors-stream.ts), so its
 * peak should be the process's baseline plus about one tensor per model, not the sum of the
 * models, whatever the kinds of input and the shard size.
 *
 * Three synthetic LLaMA model folders, wide enough that holding them all would show at once
 * (vocab 4096, hidden 1024, intermediate 2816, 8 layers: 111M float32 parameters, ≈ 445 MB
 * each), are written to a temporary folder by the library's own writers (random weights from
 * `initLlama` with seeds 0, 1, 2) and deleted afterwards, with model 1 also written as each other
 * kind of input: a training run folder (`saveCheckpoint`, empty optimizer state), an 8-bit RTN
 * quantised folder (group 128, `saveQuantizedModel`), a factored folder (every decoder linear
 * layer as random rank-64 factors, `saveModel`), and model 2 given a LoRA adapter (r 16 on every
 * linear layer, `saveAdapter`) for a `model+adapter` reference. Merged by `rankwise merge` (the
 * CLI in a child process), all linear with weights 1/3:
 *   - the three model folders with output shards of 100 MB and of 20 MB (the shard size should
 *     no longer show in the peak);
 *   - model 0 and model 2 folders with model 1 as each other kind, 20 MB shards (an input of
 *     that kind loaded whole would add its ≈ 424 MiB to the peak);
 *   - ties (base = model 0, density 0.5, weight 0.5 each), 20 MB shards, only with
 *     BENCH_MERGE_TIES=1: its double argsort makes it take ≈ 16 min on two cores.
 * Recorded per merge: the command's own peak RSS line, the child process's peak RSS (maxrss),
 * its RSS before the command ran, wall time, and beside them the sum of the inputs' sizes and
 * the largest tensor.
 *
 *   npm run bench -- merge-memory        # ≈ 1.9 GB of temporary files, a few minutes
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
const CONFIG =
  process.env.BENCH_MERGE_SMOKE === "1"
    ? // A seconds-long check that the benchmark runs, not a measurement.
      {
        vocab_size: 256,
        hidden_size: 128,
        intermediate_size: 256,
        num_hidden_layers: 2,
        num_attention_heads: 4,
      }
    : {
        vocab_size: 4096,
        hidden_size: 1024,
        intermediate_size: 2816,
        num_hidden_layers: 8,
        num_attention_heads: 16,
      };
const MODELS = 3;
/** Output shard sizes (each tensor is written as it is merged: the size should not matter). */
const SHARDS = [100_000_000, 20_000_000];
/** Model 1 as each other kind of input: the folder (or reference) name under the work folder. */
const KINDS = [
  { kind: "run folder", input: (work: string) => join(work, "run-1") },
  {
    kind: "model+adapter",
    input: (work: string) => `${join(work, "model-1")}+${join(work, "adapter-1")}`,
  },
  { kind: "quantised folder (8-bit)", input: (work: string) => join(work, "quantized-1") },
  { kind: "factored folder (rank 64)", input: (work: string) => join(work, "factored-1") },
];

/** Child: write `MODELS` model folders under `dir`, and model 1 as every other kind of input. */
async function generateChild(dir: string): Promise<void> {
  const { startEngine } = await import("./engine.js");
  await startEngine();
  const { numpy: np } = await import("@jax-js/jax");
  const tree = await import("../src/engine/tree.js");
  const { CharTokenizer } = await import("../src/data/tokenizer.js");
  const { initLlama, llamaParamShapes } = await import("../src/nn/llama.js");
  const { llamaConfig } = await import("../src/nn/llama-config.js");
  const { LOW_RANK_A, LOW_RANK_B } = await import("../src/nn/low-rank.js");
  const { saveModel } = await import("../src/nn/pretrained.js");
  const { createAdapter, loraConfig, saveAdapter } = await import("../src/peft/index.js");
  const { newMeta, saveCheckpoint } = await import("../src/train/checkpoint.js");
  const { saveQuantizedModel } = await import("../src/weights/quantize/folder.js");
  const { rtnHost } = await import("../src/weights/quantize/rtn.js");
  const config = llamaConfig(CONFIG);
  const shapes = llamaParamShapes(config);
  const sizes = Object.values(shapes).map((s) => s.reduce((a, b) => a * b, 1));
  const linear = Object.keys(shapes).filter((n) => /_proj\.weight$/.test(n));
  for (let i = 0; i < MODELS; i++) {
    const params = initLlama(config, i);
    try {
      await saveModel(join(dir, `model-${i}`), { config, params });
      log(`merge-memory: wrote model-${i}`);
      if (i === 1) await otherKinds(params);
    } finally {
      tree.dispose(params);
    }
  }
  reportToParent({
    parameters: sizes.reduce((a, b) => a + b, 0),
    largestTensor: Math.max(...sizes),
  });

  async function otherKinds(params: Record<string, import("@jax-js/jax").numpy.Array>) {
    const tokenizer = CharTokenizer.fromText("merge memory").toJSON();
    const meta = newMeta({
      step: 1,
      config: {} as never,
      tokenizer,
      sampler: { seed: 0, position: 0, rng: [1, 2, 3, 4] },
      elapsed: 0,
    });
    await saveCheckpoint(join(dir, "run-1"), { meta, modelConfig: config, params, optState: {} });
    log("merge-memory: wrote run-1");
    const quantized: Record<string, ReturnType<typeof rtnHost>> = {};
    for (const name of linear) {
      const [rows, cols] = shapes[name] as [number, number];
      quantized[name] = rtnHost(
        (await params[name]!.ref.data()) as Float32Array,
        rows,
        cols,
        8,
        128,
      );
    }
    const settings = { method: "rtn" as const, bits: 8 as const, groupSize: 128 };
    await saveQuantizedModel(join(dir, "quantized-1"), { config, params, quantized, settings });
    log("merge-memory: wrote quantized-1");
    const factored: Record<string, import("@jax-js/jax").numpy.Array> = {};
    const wave = (n: number) =>
      np.array(Float32Array.from({ length: n }, (_, j) => Math.sin(j) / 64));
    for (const [name, a] of Object.entries(params)) {
      if (!linear.includes(name)) factored[name] = a.ref;
      else {
        const [out, inp] = shapes[name] as [number, number];
        const m = name.slice(0, -".weight".length);
        factored[`${m}.${LOW_RANK_A}`] = wave(64 * inp).reshape([64, inp]);
        factored[`${m}.${LOW_RANK_B}`] = wave(out * 64).reshape([out, 64]);
      }
    }
    try {
      await saveModel(join(dir, "factored-1"), { config, params: factored });
    } finally {
      tree.dispose(factored);
    }
    log("merge-memory: wrote factored-1");
    const lora = loraConfig({ r: 16, loraAlpha: 32, targetModules: "all-linear" });
    const adapter = createAdapter(params, lora, { seed: 1 });
    try {
      await saveAdapter(join(dir, "adapter-1"), { config: adapter.config, params: adapter.params });
    } finally {
      tree.dispose([adapter.params, adapter.residual]);
    }
    log("merge-memory: wrote adapter-1");
  }
}

/** Bytes of the files under `dir` (recursive: a run folder's checkpoint/). */
const folderBytes = (dir: string): number =>
  readdirSync(dir, { withFileTypes: true }).reduce(
    (s, f) =>
      s + (f.isDirectory() ? folderBytes(join(dir, f.name)) : statSync(join(dir, f.name)).size),
    0,
  );
/** Bytes an input reference reads: a folder, or model+adapter's two folders. */
const inputBytes = (ref: string): number =>
  ref.split("+").reduce((s, part) => s + folderBytes(part), 0);

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
    const linearOf = (refs: string[]) => ({
      merge_method: "linear",
      models: refs.map((model) => ({ model, parameters: { weight: 1 / refs.length } })),
    });
    const ties = {
      merge_method: "ties",
      base_model: models[0],
      models: models.slice(1).map((model) => ({
        model,
        parameters: { weight: 0.5, density: 0.5 },
      })),
    };
    const small = SHARDS.at(-1)!;
    // linear over the folders at both shard sizes; model 1 replaced by each other kind of input;
    // ties, whose magnitude sparsification dominates its time and memory, on request only.
    const configs = [
      ...SHARDS.map((shard) => ({
        label: "linear (3 models)",
        kind: "model folder",
        shard,
        inputs: models,
      })),
      ...KINDS.map(({ kind, input }) => ({
        label: `linear (2 model folders + a ${kind})`,
        kind,
        shard: small,
        inputs: [models[0]!, input(work), models[2]!],
      })),
    ].map((c) => ({ ...c, config: linearOf(c.inputs) as object }));
    if (process.env.BENCH_MERGE_TIES === "1") {
      configs.push({
        label: "ties (base + 2 models)",
        kind: "model folder",
        shard: small,
        inputs: models,
        config: ties,
      });
    }
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
        kind: c.kind,
        config: c.config,
        modelsRead: c.inputs.length,
        shardMiB: MiB(c.shard),
        inputMiB: MiB(c.inputs.reduce((a, ref) => a + inputBytes(ref), 0)),
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
    const result = {
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
    };
    // A smoke run leaves the recorded results alone.
    if (process.env.BENCH_MERGE_SMOKE === "1") log(JSON.stringify(result));
    else writeResult("merge-memory", result);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (isChild()) await generateChild(process.env.BENCH_GENERATE!);
else await parent();
