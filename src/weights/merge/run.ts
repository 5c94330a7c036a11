/**
 * `rankwise merge`'s engine: a mergekit YAML (config.ts) → a model folder, streamed tensor by
 * tensor (mergekit's rule: never every model in memory). For each output tensor it reads that
 * tensor from each source (sources.ts: one tensor at a time from every kind of input), resolves
 * the method's parameters for it (params.ts), merges (methods/), encodes it in out_dtype (float32,
 * or float16/bfloat16 rounded as PyTorch does, io/half-encode.ts) and writes it at once to its
 * place in its shard file (io/safetensors-stream.ts: every shard's header is planned from the
 * shapes), so one merged tensor is held at a time, never a shard. The peak memory reported is the
 * largest RSS sampled after each tensor is encoded (its bytes still held).
 *
 * Output (HF save_pretrained layout): model.safetensors, or model-0000i-of-0000n.safetensors +
 * model.safetensors.index.json past `maxShardBytes` (default 5 GB, mergekit's out_shard_size);
 * config.json from the base model, else the first model, with num_hidden_layers set to the output
 * layer count (written after the weights); tokenizer.json (+ tokenizer_config.json) from
 * tokenizer_source (default: the base, else the first model, copied; `base` or a model named:
 * its vocabulary, every model's embedding rows re-indexed to it, tokenizer-source.ts; `union`:
 * the union of the models' vocabularies, likewise, tokenizer-union.ts); the YAML as
 * mergekit_config.yml.
 * Every file is written atomically.
 *
 * Layout of the output (mergekit plan.py): each output slice contributes its layers in order
 * (source layer start + j → output layer offset + j); the embeddings are merged from the first
 * slice's sources, the final norm and lm_head from the last slice's. Everything that can be
 * checked before reading weights is (method, base, shapes, layer ranges, parameters), so a bad
 * config is one line and writes nothing.
 *
 * Two hooks for the seeds' methods: a method with `statistics` gets each model's calibration
 * statistics (statistics.ts: measured one model at a time before merging, kept on disk, read
 * tensor by tensor like the weights); a method with `scan` gets a first pass over every tensor
 * whose sums (whole-model norms) the merge pass receives as `totals`.
 */
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import { writeFileAtomic } from "../../io/atomic.js";
import { encodeHalf } from "../../io/half-encode.js";
import { ensureOutputDir, removeCreated } from "../../io/output-dir.js";
import { FILE_DTYPES, type FileDType } from "../../io/safetensors-dtypes.js";
import {
  openSafetensorsStream,
  type SafetensorsStream,
  type StreamEntry,
} from "../../io/safetensors-stream.js";
import { RESIDUAL_PROJECTION } from "../../nn/llama.js";
import { CONFIG_FILE, WEIGHTS_FILE, WEIGHTS_INDEX_FILE } from "../../nn/pretrained.js";
import {
  type MergeConfig,
  type OutDtype,
  parseMergeConfig,
  type SliceSpec,
  type SourceSpec,
} from "./config.js";
import type { MergeInput, MergeMethod, ParamValue } from "./method.js";
import { MERGE_METHODS, mergeMethod } from "./methods/index.js";
import { resolveParameter } from "./params.js";
import { type ModelSource, openSource } from "./sources.js";
import { type MergeStatistics, measureStatistics, sourceTokenizer } from "./statistics.js";
import { applyTokenizerSource } from "./tokenizer-source.js";
import { applyTokenizerUnion, VOCAB_TENSORS } from "./tokenizer-union.js";

export const MERGEKIT_CONFIG_FILE = "mergekit_config.yml";
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;

const FILE_DTYPE: Record<OutDtype, FileDType> = {
  float32: "F32",
  float16: "F16",
  bfloat16: "BF16",
};

/** A merged tensor's bytes in the output dtype (halves as PyTorch rounds them). Consumes `a`. */
async function outputBytes(a: np.Array, dtype: OutDtype): Promise<Uint8Array> {
  const x = a.dtype === np.float32 ? a : a.astype(np.float32);
  const data =
    dtype === "float32" ? ((await x.data()) as Float32Array) : await encodeHalf(x, dtype);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Options of {@link runMerge}: where to write, the seed, the shard size and progress callbacks. */
export interface MergeOptions {
  /** The new model folder (must not exist or be empty). */
  out: string;
  /** Seed of the randomised methods (DARE, DELLA). Default 0. */
  seed?: number;
  maxShardBytes?: number;
  /** Called once the config is checked and planned, before anything is read or written. */
  onStart?: (plan: { method: string; models: number; tensors: number; layers: number }) => void;
  /** Called after each output tensor (progress). */
  onTensor?: (done: number, total: number, name: string) => void;
  /** Called after each model's calibration statistics are measured (methods that need them). */
  onStatistics?: (model: string) => void;
}

/** What {@link runMerge} wrote: files, tensors and peak memory. */
export interface MergeSummary {
  method: string;
  tensors: number;
  layers: number;
  files: string[];
  /** Largest resident set size seen while merging (bytes). */
  peakRssBytes: number;
}

/** One output tensor: where its inputs come from and its resolved parameters. */
interface Planned {
  out: string;
  shape: number[];
  /** Source tensor name for each source of the slice (parallel to slice.sources). */
  reads: { source: SourceSpec; name: string }[];
  baseIndex: number;
  modelParams: Record<string, ParamValue>[];
  params: Record<string, ParamValue>;
  /** A stored residual projection every source holds alike: copied, not merged. */
  copy?: boolean;
}

const LAYER = /^model\.layers\.(\d+)\.(.+)$/;

/** A 32-bit seed from --seed and the tensor name (FNV-1a), so each tensor draws its own mask. */
export function tensorSeed(seed: number, name: string): number {
  let h = 0x811c9dc5;
  for (const c of `${seed}:${name}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return h >>> 0;
}

/** Merge per the YAML `text` into `options.out` (see the file header). */
export async function runMerge(text: string, options: MergeOptions): Promise<MergeSummary> {
  const config = parseMergeConfig(text);
  const method = mergeMethod(config.method);
  if (method === undefined) {
    throw new UsageError(
      `merge_method "${config.method}" is unknown; accepted: ${[...MERGE_METHODS.keys()].join(", ")}`,
    );
  }
  if (method.base === "required" && config.baseModel === undefined) {
    throw new UsageError(
      `merge_method ${method.name} needs base_model (the model the others are measured from)`,
    );
  }
  if (config.tokenizerSource === "base" && config.baseModel === undefined) {
    throw new UsageError('tokenizer_source "base" needs base_model; or name one of the models');
  }
  const out = options.out;
  if (existsSync(out) && statSync(out).isDirectory() && readdirSync(out).length > 0) {
    throw new UsageError(`--out ${out} is not empty: choose a new folder for the merged model`);
  }
  const sources = new Map<string, ModelSource>();
  let stats: MergeStatistics | undefined;
  // The statistics pass's peak memory counts in the summary's.
  let statsPeak = 0;
  try {
    const refs = new Set(config.slices.flatMap((s) => s.sources.map((x) => x.model)));
    const tokRef =
      config.tokenizerSource === undefined ||
      config.tokenizerSource === "base" ||
      config.tokenizerSource === "union"
        ? (config.baseModel ?? config.slices[0]!.sources[0]!.model)
        : config.tokenizerSource;
    refs.add(tokRef);
    for (const ref of refs) sources.set(ref, await openSource(ref));
    if (config.tokenizerSource === "union") applyTokenizerUnion(config, sources);
    else if (config.tokenizerSource !== undefined) applyTokenizerSource(config, sources, tokRef);
    const { plan, layers } = planMerge(config, method, sources);
    await checkCopies(plan, sources);
    const calibration = method.statistics ? calibrationPlan(config, method) : undefined;
    options.onStart?.({ method: method.name, models: sources.size, tensors: plan.length, layers });
    if (method.statistics && calibration) {
      const tokenizer = sourceTokenizer(sources.get(tokRef)!);
      stats = await measureStatistics(
        method.statistics.kind,
        [...calibration.keys()],
        sources,
        tokenizer,
        (ref) => calibration.get(ref)!,
        (ref) => {
          statsPeak = Math.max(statsPeak, process.memoryUsage().rss);
          options.onStatistics?.(ref);
        },
      );
    }
    const summary = await execute(
      config,
      method,
      sources,
      plan,
      layers,
      tokRef,
      text,
      options,
      stats,
    );
    return { ...summary, peakRssBytes: Math.max(summary.peakRssBytes, statsPeak) };
  } finally {
    stats?.close();
    for (const s of sources.values()) s.close();
  }
}

/**
 * Which models a statistics method measures, each with its calibration (its own, else the top
 * level's) and the key it came from; one line when a model has none.
 */
function calibrationPlan(
  config: MergeConfig,
  method: MergeMethod,
): Map<string, { calib: NonNullable<MergeConfig["calibration"]>; where: string }> {
  const out = new Map<string, { calib: NonNullable<MergeConfig["calibration"]>; where: string }>();
  config.slices.forEach((slice, k) => {
    slice.sources.forEach((s, j) => {
      // A method without a base role (fisher) merges the base_model like any other model.
      const isBase = s.model === config.baseModel && method.base !== "none";
      if (isBase && !method.statistics!.base) return;
      if (out.has(s.model) && s.calibration === undefined) return;
      const where = config.sliced
        ? `slices[${k}].sources[${j}].calibration`
        : `models[${j}].calibration`;
      const calib = s.calibration ?? config.calibration;
      if (calib === undefined) {
        throw new UsageError(
          `merge_method ${method.name} needs calibration text: set calibration: {data: <corpus name or text file>, samples, seq_len, seed} at the top level or per model (missing for ${s.model})`,
        );
      }
      out.set(s.model, { calib, where: s.calibration ? where : "calibration" });
    });
  });
  return out;
}

function planMerge(
  config: MergeConfig,
  method: MergeMethod,
  sources: Map<string, ModelSource>,
): { plan: Planned[]; layers: number } {
  const first = sources.get(config.slices[0]!.sources[0]!.model)!;
  const names = Object.keys(first.shapes);
  const pre = names.filter((n) => !LAYER.test(n) && n.startsWith("model.embed"));
  const post = names.filter((n) => !LAYER.test(n) && !n.startsWith("model.embed"));
  const suffixes = names
    .map((n) => LAYER.exec(n))
    .filter((m) => m !== null && m[1] === "0")
    .map((m) => m![2]!);
  const plan: Planned[] = [];
  const add = (slice: SliceSpec, out: string, name: (s: SourceSpec) => string, t: number) =>
    plan.push(plannedTensor(config, method, sources, slice, out, name, t));
  const firstSlice = config.slices[0]!;
  const lastSlice = config.slices.at(-1)!;
  for (const n of pre) add(firstSlice, n, () => n, 0);
  let offset = 0;
  config.slices.forEach((slice, k) => {
    const ranges = slice.sources.map((s) => {
      const layers = sources.get(s.model)!.config.num_hidden_layers;
      const range = s.layerRange ?? [0, layers];
      if (range[1] > layers) {
        throw new UsageError(
          `slices[${k}]: layer_range [${range}] of ${s.model} goes past its ${layers} layers`,
        );
      }
      return range;
    });
    const count = ranges[0]![1] - ranges[0]![0];
    if (ranges.some((r) => r[1] - r[0] !== count)) {
      const what = config.sliced ? `slices[${k}]: every source must span` : "every model must have";
      throw new UsageError(
        `${what} the same number of layers; got ${slice.sources.map((s, i) => `${s.model}: ${ranges[i]![1] - ranges[i]![0]}`).join(", ")}`,
      );
    }
    for (let j = 0; j < count; j++) {
      const t = count > 1 ? j / (count - 1) : 1;
      for (const suffix of suffixes) {
        const name = (s: SourceSpec) =>
          `model.layers.${ranges[slice.sources.indexOf(s)]![0] + j}.${suffix}`;
        add(slice, `model.layers.${offset + j}.${suffix}`, name, t);
      }
      const reads = slice.sources.map((source, m) => ({
        source,
        name: `model.layers.${ranges[m]![0] + j}.${RESIDUAL_PROJECTION}`,
      }));
      const held = reads.filter(({ source, name }) => sources.get(source.model)!.projections[name]);
      if (held.length > 0) {
        const lacking = reads.find((r) => !held.includes(r))?.source.model;
        if (lacking !== undefined) throw projectionError(held[0]!, `model ${lacking} has none`);
        const d = first.config.hidden_size;
        const out = `model.layers.${offset + j}.${RESIDUAL_PROJECTION}`;
        plan.push({
          out,
          shape: [d, d],
          reads,
          baseIndex: -1,
          modelParams: [],
          params: {},
          copy: true,
        });
      }
    }
    offset += count;
  });
  for (const n of post) add(lastSlice, n, () => n, 0);
  return { plan, layers: offset };
}

/**
 * A stored residual projection (`edit inlp` without --fold) is no weight to interpolate: it is
 * copied when every source of its layer holds the same one, and refused otherwise.
 */
function projectionError(held: { source: SourceSpec; name: string }, why: string): UsageError {
  return new UsageError(
    `model ${held.source.model} holds ${held.name} (rankwise edit inlp without --fold) and ${why} at that layer; merge copies a stored projection only when every model holds the same one: fold it into the weights with rankwise edit inlp --fold`,
  );
}

/** Refuse planned projection copies whose sources differ (read now, before anything is written). */
async function checkCopies(plan: Planned[], sources: Map<string, ModelSource>): Promise<void> {
  for (const p of plan.filter((q) => q.copy)) {
    const [head, ...rest] = p.reads;
    const want = await sources.get(head!.source.model)!.read(head!.name);
    const wantData = (await want.data()) as Float32Array;
    for (const r of rest) {
      const got = await sources.get(r.source.model)!.read(r.name);
      const gotData = (await got.data()) as Float32Array;
      if (gotData.some((v, i) => !Object.is(v, wantData[i]))) {
        throw projectionError(head!, `model ${r.source.model} holds a different one`);
      }
    }
  }
}

function plannedTensor(
  config: MergeConfig,
  method: MergeMethod,
  sources: Map<string, ModelSource>,
  slice: SliceSpec,
  out: string,
  nameIn: (s: SourceSpec) => string,
  t: number,
): Planned {
  const reads = slice.sources.map((source) => ({ source, name: nameIn(source) }));
  let shape: number[] | undefined;
  let shapeFrom = "";
  for (const { source, name } of reads) {
    const got = sources.get(source.model)!.shapes[name];
    if (got === undefined) {
      throw new UsageError(`model ${source.model}: missing weights for ${name}`);
    }
    if (shape === undefined) {
      shape = got;
      shapeFrom = source.model;
    } else if (got.join(",") !== shape.join(",")) {
      throw new UsageError(
        `mismatched shapes: ${name} is [${got}] in ${source.model} but [${shape}] in ${shapeFrom}${VOCAB_TENSORS.includes(name) ? " (the vocabularies differ: tokenizer_source: union merges them)" : ""}`,
      );
    }
  }
  const baseIndex =
    method.base === "none" || config.baseModel === undefined
      ? -1
      : slice.sources.findIndex((s) => s.model === config.baseModel);
  const resolve = (
    p: MergeMethod["params"][number],
    levels: Parameters<typeof resolveParameter>[1],
    who: string,
    tensor: string,
  ) => {
    const value = resolveParameter(p.name, levels, tensor, t) ?? p.default;
    if (value === undefined) {
      throw new UsageError(
        `merge_method ${method.name} needs parameter "${p.name}"${who} (set it under the model's parameters or the top-level parameters)`,
      );
    }
    const wantNumber =
      typeof p.default === "number" || (p.default === undefined && p.name === "weight");
    if (wantNumber && typeof value !== "number") {
      throw new UsageError(
        `parameter "${p.name}"${who} must be a number, got ${JSON.stringify(value)}`,
      );
    }
    if (typeof p.default === "boolean" && typeof value !== "boolean") {
      throw new UsageError(
        `parameter "${p.name}" must be true or false, got ${JSON.stringify(value)}`,
      );
    }
    const problem = p.check?.(value);
    if (problem !== undefined) {
      throw new UsageError(`parameter "${p.name}"${who} ${problem}, got ${value} for ${tensor}`);
    }
    if (p.name === "density" && !((value as number) >= 0 && (value as number) <= 1)) {
      throw new UsageError(
        `parameter "density"${who} must be in [0, 1] (the share of each task vector kept), got ${value} for ${tensor}`,
      );
    }
    return value;
  };
  // As mergekit: a model's own parameters are matched against its input tensor's name (its layer
  // index in a slice), the global ones against the output tensor's.
  const modelParams = reads
    .filter((_, i) => i !== baseIndex)
    .map(({ source: s, name }) => {
      const entries = method.params
        .filter((p) => p.perModel)
        .map((p) => [
          p.name,
          resolve(
            p,
            [s.parameters, slice.parameters, config.parameters],
            ` for model ${s.model}`,
            name,
          ),
        ]);
      return Object.fromEntries(entries) as Record<string, ParamValue>;
    });
  const params = Object.fromEntries(
    method.params
      .filter((p) => !p.perModel)
      .map((p) => [p.name, resolve(p, [slice.parameters, config.parameters], "", out)]),
  ) as Record<string, ParamValue>;
  return { out, shape: shape!, reads, baseIndex, modelParams, params };
}

/** Write the output folder; on a failure midway, remove what was written (and created). */
async function execute(
  config: MergeConfig,
  method: MergeMethod,
  sources: Map<string, ModelSource>,
  plan: Planned[],
  layers: number,
  tokRef: string,
  text: string,
  options: MergeOptions,
  stats?: MergeStatistics,
): Promise<MergeSummary> {
  const created = ensureOutputDir(options.out);
  const files: string[] = [];
  try {
    const totals = method.scan
      ? await scanTotals(method, sources, plan, options, stats)
      : undefined;
    const read = (p: Planned) => readInput(p, sources, options.seed ?? 0, stats, totals);
    return await writeOutput(
      config,
      method,
      read,
      sources,
      plan,
      layers,
      tokRef,
      text,
      options,
      files,
    );
  } catch (error) {
    for (const f of files) rmSync(join(options.out, f), { force: true });
    removeCreated(created);
    throw error;
  }
}

/** `scan`'s numbers summed over every output tensor (a first pass, before anything is written). */
async function scanTotals(
  method: MergeMethod,
  sources: Map<string, ModelSource>,
  plan: Planned[],
  options: MergeOptions,
  stats?: MergeStatistics,
): Promise<Record<string, number>> {
  const totals: Record<string, number> = {};
  for (const p of plan.filter((q) => !q.copy)) {
    const found = method.scan!(await readInput(p, sources, options.seed ?? 0, stats));
    for (const [k, v] of Object.entries(found)) totals[k] = (totals[k] ?? 0) + v;
  }
  return totals;
}

/** One planned tensor's inputs (and statistics), read from the sources; the method owns them. */
async function readInput(
  p: Planned,
  sources: Map<string, ModelSource>,
  seed: number,
  stats?: MergeStatistics,
  totals?: Record<string, number>,
): Promise<MergeInput> {
  const arrays: np.Array[] = [];
  const measured: (np.Array | undefined)[] = [];
  try {
    for (const { source, name } of p.reads) {
      arrays.push(await sources.get(source.model)!.read(name));
    }
    if (stats) {
      for (const { source, name } of p.reads) {
        const file = stats.files.get(source.model);
        measured.push(file?.infos.has(name) ? await file.read(name) : undefined);
      }
    }
  } catch (error) {
    for (const a of [...arrays, ...measured]) a?.dispose();
    throw error;
  }
  // Statistics for every model, or none (a Gram matrix exists only for decoder linear weights).
  const perModel = measured.filter((_, j) => j !== p.baseIndex);
  let modelStats: np.Array[] | undefined;
  if (stats && perModel.every((a) => a !== undefined)) modelStats = perModel as np.Array[];
  else for (const a of perModel) a?.dispose();
  return {
    name: p.out,
    tensors: arrays.filter((_, j) => j !== p.baseIndex),
    base: p.baseIndex >= 0 ? arrays[p.baseIndex] : undefined,
    modelParams: p.modelParams,
    params: p.params,
    seed: tensorSeed(seed, p.out),
    stats: modelStats,
    baseStats: p.baseIndex >= 0 ? measured[p.baseIndex] : undefined,
    totals,
  };
}

async function writeOutput(
  config: MergeConfig,
  method: MergeMethod,
  read: (p: Planned) => Promise<MergeInput>,
  sources: Map<string, ModelSource>,
  plan: Planned[],
  layers: number,
  tokRef: string,
  text: string,
  options: MergeOptions,
  files: string[],
): Promise<MergeSummary> {
  const dtype = FILE_DTYPE[config.outDtype];
  const bytesPer = FILE_DTYPES[dtype].bytes;
  const maxShard = options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  // Shards planned from the shapes, so each file knows its final name and header before any
  // tensor is merged, and each tensor goes to its file as soon as it is computed.
  const shardOf: number[] = [];
  const entries: StreamEntry[][] = [];
  let used = Number.POSITIVE_INFINITY;
  for (const p of plan) {
    const size = p.shape.reduce((a, b) => a * b, 1) * bytesPer;
    if (used > 0 && used + size > maxShard) {
      entries.push([]);
      used = 0;
    }
    used += size;
    entries.at(-1)!.push({ name: p.out, dtype, shape: p.shape });
    shardOf.push(entries.length - 1);
  }
  const shards = entries.length;
  const fileName = (i: number) =>
    shards === 1
      ? WEIGHTS_FILE
      : `model-${String(i + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`;
  const weightMap: Record<string, string> = {};
  let peak = process.memoryUsage().rss;
  let totalSize = 0;
  let stream: SafetensorsStream | undefined;
  try {
    for (let i = 0; i < plan.length; i++) {
      const p = plan[i]!;
      const shard = shardOf[i]!;
      stream ??= await openSafetensorsStream(join(options.out, fileName(shard)), entries[shard]!, {
        format: "pt",
      });
      const merged = p.copy
        ? await sources.get(p.reads[0]!.source.model)!.read(p.reads[0]!.name)
        : method.merge(await read(p));
      // Encoded (and so computed) now: a pending result would keep every input it was computed
      // from alive. The encoded bytes are the largest host copy: the peak is sampled with them.
      const bytes = await outputBytes(merged, config.outDtype);
      peak = Math.max(peak, process.memoryUsage().rss);
      await stream.write(p.out, bytes);
      weightMap[p.out] = fileName(shard);
      totalSize += bytes.length;
      if (i === plan.length - 1 || shardOf[i + 1] !== shard) {
        await stream.finish();
        stream = undefined;
        files.push(fileName(shard));
      }
      options.onTensor?.(i + 1, plan.length, p.out);
    }
  } finally {
    await stream?.abort();
  }
  if (shards > 1) {
    const index = { metadata: { total_size: totalSize }, weight_map: weightMap };
    await writeFileAtomic(
      join(options.out, WEIGHTS_INDEX_FILE),
      `${JSON.stringify(index, null, 2)}\n`,
    );
    files.push(WEIGHTS_INDEX_FILE);
  }
  const configSource = sources.get(config.baseModel ?? config.slices[0]!.sources[0]!.model)!;
  const outConfig = {
    ...configSource.configJson,
    num_hidden_layers: layers,
    torch_dtype: config.outDtype,
  };
  const tokenizer = sources.get(tokRef)!.tokenizerFiles();
  for (const [name, body] of Object.entries(tokenizer ?? {})) {
    await writeFileAtomic(join(options.out, name), body);
    files.push(name);
  }
  await writeFileAtomic(join(options.out, MERGEKIT_CONFIG_FILE), text);
  await writeFileAtomic(join(options.out, CONFIG_FILE), `${JSON.stringify(outConfig, null, 2)}\n`);
  files.push(MERGEKIT_CONFIG_FILE, CONFIG_FILE);
  return { method: method.name, tensors: plan.length, layers, files, peakRssBytes: peak };
}
