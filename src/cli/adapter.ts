/**
 * `rankwise adapter merge` and `rankwise adapter inspect`: PEFT adapter folders at the command
 * line.
 *
 *   merge    base (run folder or model folder) + adapter → a model folder (config.json,
 *            model.safetensors, tokenizer.json when the base has one Rankwise reads): W + ΔW as
 *            src/peft/merge.ts computes it, refused when the result is not finite.
 *   inspect  the config (PEFT's fields; any registered adapter type), the targeted modules with their ranks and shapes, the
 *            trainable parameter count (a type's frozen tensors, e.g. VeRA's shared projections,
 *            listed apart and not counted; trained tensors shared by all modules, e.g. LoTR's
 *            factors, listed apart; modules found through the type's own tensor names) and the
 *            weights file's size, from the config and the
 *            safetensors header alone (no base model needed); for a fine-tuning run's
 *            `adapter/` also the run's median step time and optimizer-state bytes (its
 *            metrics.jsonl); --json for machines.
 *   convert  any adapter (--model for DoRA) or two full models (--from-models base tuned) → a
 *            PEFT LoRA by truncated SVD of ΔW (src/peft/extract.ts), --rank or --energy; the
 *            relative Frobenius error of each module is reported.
 *   combine  several adapters → one LoRA: cat, linear, svd, ties, dare on ΔW
 *            (src/peft/combine/), with --weights, --density, --rank, --seed.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { tokenizerFiles } from "../data/tokenizer-file.js";
import { UsageError } from "../engine/errors.js";
import * as tree from "../engine/tree.js";
import { writeFileAtomic } from "../io/atomic.js";
import { ensureOutputDir } from "../io/output-dir.js";
import { readSafetensorsHeader } from "../io/safetensors.js";
import type { LlamaParams } from "../nn/llama.js";
import type { LlamaConfig } from "../nn/llama-config.js";
import { densifyLowRank } from "../nn/low-rank.js";
import { CONFIG_FILE, loadModel, saveModel } from "../nn/pretrained.js";
import { densifySparse } from "../nn/sparse-model.js";
import {
  COMBINE_METHODS,
  type CombineOptions,
  checkCombineInputs,
  checkCombineOptions,
  combineAdapters,
} from "../peft/combine/index.js";
import { type AdapterDelta, readAdapterDelta } from "../peft/delta.js";
import {
  checkRankRule,
  convertAdapter,
  type ExtractedLora,
  extractLora,
  type RankRule,
} from "../peft/extract.js";
import {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  anyConfigFromJson,
  anyConfigToJson,
  isLoraConfig,
  PEFT_PREFIX,
  patternKey,
  saveAdapter,
  shapesOf,
} from "../peft/index.js";
import { type AnyConfig, typeOfConfig } from "../peft/types/any.js";
import { planTyped } from "../peft/types/apply.js";
import { type AdapterType, isTrained } from "../peft/types/registry.js";
import { summarizeRun } from "../report/summary.js";
import type { MetricRow } from "../report/types.js";
import { openBase, withAdapter } from "../train/adapted-model.js";

export async function adapterMergeCommand(opts: {
  model?: string;
  adapter?: string;
  out?: string;
}): Promise<void> {
  for (const flag of ["model", "adapter", "out"] as const) {
    if (opts[flag] === undefined) throw new UsageError(`adapter merge: --${flag} is required`);
  }
  const out = String(opts.out);
  if (existsSync(out) && statSync(out).isDirectory() && readdirSync(out).length > 0)
    throw new UsageError(`--out ${out} is not empty: choose a new folder for the merged model`);
  const opened = await openBase(String(opts.model));
  const params = await withAdapter(opened, String(opts.adapter));
  try {
    ensureOutputDir(out);
    await saveModel(out, { config: opened.config, params });
    for (const [name, text] of Object.entries(tokenizerFiles(opened.tokenizer.toJSON())))
      await writeFileAtomic(join(out, name), text);
  } finally {
    tree.dispose(params);
  }
  process.stdout.write(`merged ${opts.adapter} into ${opts.model}: ${out}\n`);
}

/** What `adapter inspect` reports. */
interface AdapterSummary {
  dir: string;
  config: Record<string, unknown>;
  /** A registered type's main settings in words (src/peft/types/registry.ts). */
  describe?: string;
  modules: { name: string; rank: number; shapes: Record<string, number[]> }[];
  /** Tensors the type never trains (VeRA's shared projections), apart from the modules. */
  frozen: { name: string; shape: number[] }[];
  /** Trained tensors shared by all modules ("base_model.<name>": LoTR's factors, Compacter's rule). */
  shared: { name: string; shape: number[] }[];
  /** Parameters of the trained tensors (the frozen ones left out). */
  trainableParameters: number;
  frozenParameters: number;
  fileBytes: number;
  /** When the folder is a fine-tuning run's `adapter/`: what the run measured (metrics.jsonl). */
  run?: RunMeasurements;
}

/** A fine-tuning run's measurements, from its metrics rows (src/report/summary.ts). */
interface RunMeasurements {
  metrics: string;
  steps?: number;
  /** Median seconds per step between logged rows. */
  stepTime?: number;
  tokensPerSec?: number;
  /** Largest optimizer-state size logged. */
  stateBytes?: number;
}

/** The measurements of the fine-tuning run holding `dir` (its parent's metrics.jsonl), if any. */
function runMeasurements(dir: string): RunMeasurements | undefined {
  const metrics = join(dirname(resolve(dir)), "metrics.jsonl");
  if (!existsSync(metrics)) return undefined;
  const rows: MetricRow[] = [];
  for (const line of readFileSync(metrics, "utf8").split("\n")) {
    try {
      if (line.trim() !== "") rows.push(JSON.parse(line) as MetricRow);
    } catch {
      // a torn last line of a run still being written: the rows before it stand
    }
  }
  // Only a fine-tuning run (its start row names the adapter) measured this folder's training.
  if (!rows.some((r) => r.type === "start" && typeof r.adapter === "string")) return undefined;
  const s = summarizeRun(rows);
  return {
    metrics,
    steps: s.steps,
    stepTime: s.stepTime,
    tokensPerSec: s.tokensPerSec,
    stateBytes: s.stateBytes,
  };
}

/**
 * Which module each tensor of a registered type's folder belongs to (key → module name), from
 * the type's own tensor names: the base shapes the folder implies (type.inferShapes) are planned
 * as finetune plans them and each module's keys come from type.tensors, so a tensor named
 * `<module>.lora_latent_mapping.weight` is not taken for a saved module. Undefined when the type
 * cannot infer its base shapes (IA³, VeRA, ...: their keys are `<module>.<tensor>`).
 */
function moduleOfKey(
  type: AdapterType,
  config: AnyConfig,
  tensors: Map<string, number[]>,
): Map<string, string> | undefined {
  if (type.inferShapes === undefined || isLoraConfig(config)) return undefined;
  try {
    const plan = planTyped(type, config, type.inferShapes(tensors, config));
    const owner = new Map<string, string>();
    for (const m of plan.modules)
      for (const key of Object.keys(type.tensors(m))) owner.set(key, m.name);
    return owner;
  } catch {
    // A folder the plan refuses (edited by hand): fall back to the names' shape.
    return undefined;
  }
}

async function summarize(dir: string): Promise<AdapterSummary> {
  const configPath = join(dir, ADAPTER_CONFIG_FILE);
  if (!existsSync(configPath))
    throw new UsageError(`${dir} is not a PEFT adapter folder (no ${ADAPTER_CONFIG_FILE})`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(configPath, "utf8"));
  } catch (error) {
    throw new UsageError(`${configPath} is not valid JSON: ${(error as Error).message}`);
  }
  const { config } = anyConfigFromJson(json, configPath);
  const lora = isLoraConfig(config);
  const weights = join(dir, ADAPTER_WEIGHTS_FILE);
  if (!existsSync(weights)) throw new UsageError(`${dir} has no ${ADAPTER_WEIGHTS_FILE}`);
  let header: Awaited<ReturnType<typeof readSafetensorsHeader>>;
  try {
    header = await readSafetensorsHeader(weights);
  } catch (error) {
    throw new UsageError(`${weights}: ${(error as Error).message.split("\n")[0]}`);
  }
  const modules = new Map<string, AdapterSummary["modules"][number]>();
  const type = isLoraConfig(config) ? undefined : typeOfConfig(config);
  const frozen: AdapterSummary["frozen"] = [];
  const shared: AdapterSummary["shared"] = [];
  const byKey = new Map(
    header.tensors.map((t) => [
      t.name.startsWith(PEFT_PREFIX) ? t.name.slice(PEFT_PREFIX.length) : t.name,
      t.shape,
    ]),
  );
  const owner = type === undefined ? undefined : moduleOfKey(type, config, byKey);
  let count = 0;
  let frozenCount = 0;
  for (const t of header.tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    const key = t.name.startsWith(PEFT_PREFIX) ? t.name.slice(PEFT_PREFIX.length) : t.name;
    if (type !== undefined && !isTrained(type, key)) {
      frozen.push({ name: key, shape: t.shape });
      frozenCount += size;
      continue;
    }
    count += size;
    if (!lora && key.startsWith("base_model.")) {
      shared.push({ name: key, shape: t.shape });
      continue;
    }
    // LoRA's tensor names; other types (src/peft/types/) key tensors as <module>.<tensor>, their
    // modules known from the type (moduleOfKey) or else from the key (a saved module's ".weight").
    const moduleName = owner?.get(key);
    const m = lora
      ? /^(.*)\.(lora_A\.weight|lora_B\.weight|lora_magnitude_vector|lora_embedding_A|lora_embedding_B)$/.exec(
          key,
        )
      : moduleName !== undefined
        ? [key, moduleName, key.slice(moduleName.length + 1)]
        : owner !== undefined || key.endsWith(".weight")
          ? null
          : /^(.*)\.([^.]+)$/.exec(key);
    const name = m ? m[1] : key.replace(/\.weight$/, "");
    const part = m ? m[2].replace(/\.weight$/, "") : "weight";
    const entry = modules.get(name) ?? { name, rank: 0, shapes: {} };
    entry.shapes[part] = t.shape;
    if (part === "lora_A" || part === "lora_embedding_A") entry.rank = t.shape[0];
    if (!lora && m && !isLoraConfig(config)) {
      const k = patternKey(config.rankPattern ?? {}, name);
      entry.rank = k === undefined ? (config.r ?? 0) : (config.rankPattern?.[k] ?? 0);
    }
    modules.set(name, entry);
  }
  return {
    dir,
    config: anyConfigToJson(config),
    describe: isLoraConfig(config) ? undefined : typeOfConfig(config).describe(config),
    modules: [...modules.values()].sort((a, b) => a.name.localeCompare(b.name)),
    frozen: frozen.sort((a, b) => a.name.localeCompare(b.name)),
    shared: shared.sort((a, b) => a.name.localeCompare(b.name)),
    trainableParameters: count,
    frozenParameters: frozenCount,
    fileBytes: statSync(weights).size,
    run: runMeasurements(dir),
  };
}

export async function adapterInspectCommand(dir: string, opts: { json?: boolean }): Promise<void> {
  const s = await summarize(dir);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return;
  }
  const c = s.config;
  const lines = [
    `adapter ${dir}`,
    s.describe === undefined
      ? `  type ${c.peft_type}, r ${c.r}, lora_alpha ${c.lora_alpha}${c.use_rslora ? ", rsLoRA" : ""}${c.use_dora ? ", DoRA" : ""}, init ${JSON.stringify(c.init_lora_weights)}`
      : `  type ${c.peft_type}, ${s.describe}`,
    `  target_modules ${JSON.stringify(c.target_modules)}, base ${c.base_model_name_or_path ?? "(not recorded)"}`,
    `  ${s.modules.length} modules, ${s.trainableParameters.toLocaleString("en-US")} parameters${s.frozenParameters > 0 ? ` (+ ${s.frozenParameters.toLocaleString("en-US")} frozen, not trained)` : ""}, ${s.fileBytes.toLocaleString("en-US")} bytes on disk`,
    ...(s.run === undefined
      ? []
      : [
          `  run ${s.run.metrics}: ${s.run.steps ?? "?"} steps, step time ${s.run.stepTime === undefined ? "–" : `${(1000 * s.run.stepTime).toFixed(1)} ms`} (median), optimizer state ${s.run.stateBytes === undefined ? "–" : `${s.run.stateBytes.toLocaleString("en-US")} bytes`}`,
        ]),
    ...s.modules.map(
      (m) =>
        `    ${m.name}  rank ${m.rank}  ${Object.entries(m.shapes)
          .map(([k, v]) => `${k} [${v.join(", ")}]`)
          .join("  ")}`,
    ),
    ...s.shared.map((f) => `    ${f.name}  shared by all modules  [${f.shape.join(", ")}]`),
    ...s.frozen.map((f) => `    ${f.name}  frozen (not trained)  [${f.shape.join(", ")}]`),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

/** Parse a numeric flag; a one-line UsageError names the flag and the accepted values. */
function numberFlag(flag: string, text: unknown, accepted: string, integer = false): number {
  const s = String(text).trim();
  const v = integer ? (/^\d+$/.test(s) ? Number(s) : Number.NaN) : Number(s);
  if (s === "" || !Number.isFinite(v))
    throw new UsageError(`${flag} ${s} is not accepted (${accepted})`);
  return v;
}

/** A model's parameters without its tokenizer: a model folder, else a run folder or Hub id. */
async function openWeights(spec: string): Promise<LlamaParams> {
  if (existsSync(join(spec, CONFIG_FILE)) && statSync(spec).isDirectory()) {
    try {
      const model = await loadModel(spec); // factored layers as W + B A, SLTrain's as (α/r)·B A + S
      return densifyLowRank(densifySparse(model.params, model.config as LlamaConfig));
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new UsageError(
        `cannot open the model in ${spec}: ${(error as Error).message.split("\n")[0]}`,
      );
    }
  }
  return (await openBase(spec)).params;
}

/** Refuse an --out folder that holds files (the adapter must not mix with others). */
function freshOut(out: unknown, what: string): string {
  if (out === undefined) throw new UsageError(`--out is required (a new folder for the ${what})`);
  const dir = String(out);
  if (existsSync(dir) && statSync(dir).isDirectory() && readdirSync(dir).length > 0)
    throw new UsageError(`--out ${dir} is not empty: choose a new folder for the ${what}`);
  return dir;
}

async function writeResult(
  out: string,
  result: ExtractedLora,
  summary: Record<string, unknown>,
  json: boolean | undefined,
  title: string,
): Promise<void> {
  try {
    ensureOutputDir(out);
    await saveAdapter(out, result.adapter);
  } finally {
    tree.dispose(result.adapter.params);
  }
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ ...summary, out, modules: result.report }, null, 2)}\n`,
    );
    return;
  }
  const width = Math.max(...result.report.map((m) => m.name.length));
  const toSave = result.adapter.config.modulesToSave;
  const lines = [
    `${title}: ${out}`,
    ...result.report.map((m) =>
      m.rank === 0
        ? `  ${m.name.padEnd(width)}  left out (ΔW = 0)`
        : `  ${m.name.padEnd(width)}  rank ${String(m.rank).padStart(4)}  error ${m.error.toExponential(2)}`,
    ),
    ...(toSave ? [`  modules_to_save (saved in full): ${toSave.join(", ")}`] : []),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

function rankRule(opts: { rank?: string; energy?: string }): RankRule {
  if (opts.rank !== undefined && opts.energy !== undefined)
    throw new UsageError("give --rank or --energy, not both");
  if (opts.rank !== undefined)
    return { rank: numberFlag("--rank", opts.rank, "a positive integer", true) };
  if (opts.energy !== undefined)
    return { energy: numberFlag("--energy", opts.energy, "a number in (0, 1]") };
  throw new UsageError("give --rank k (a fixed rank) or --energy e (a share of Σσ² in (0, 1])");
}

/**
 * `adapter convert <adapter> --to lora` (any readable adapter's ΔW → LoRA by truncated SVD) and
 * `adapter convert --from-models <base> <tuned> --to lora` (ΔW = tuned − base), src/peft/extract.ts.
 */
export async function adapterConvertCommand(
  dir: string | undefined,
  opts: {
    to?: string;
    rank?: string;
    energy?: string;
    out?: string;
    model?: string;
    fromModels?: string[];
    json?: boolean;
  },
): Promise<void> {
  if (opts.to === undefined) throw new UsageError("--to is required (accepted: lora)");
  if (opts.to !== "lora") throw new UsageError(`--to ${opts.to} is not accepted (lora)`);
  const rule = rankRule(opts);
  checkRankRule(rule);
  const from = opts.fromModels;
  if (from !== undefined && dir !== undefined)
    throw new UsageError("give an adapter folder or --from-models <base> <tuned>, not both");
  if (from !== undefined && from.length !== 2)
    throw new UsageError(`--from-models takes two models (base, tuned), got ${from.length}`);
  if (from === undefined && dir === undefined)
    throw new UsageError("give an adapter folder to convert, or --from-models <base> <tuned>");
  const out = freshOut(opts.out, "adapter");
  const how = "rank" in rule ? `rank ${rule.rank}` : `energy ${rule.energy}`;
  if (from !== undefined) {
    const [baseSpec, tunedSpec] = from;
    const base = await openWeights(baseSpec);
    let tuned: LlamaParams | undefined;
    try {
      tuned = await openWeights(tunedSpec);
      if (!opts.json)
        process.stderr.write(`extracting a LoRA (${how}) from ${tunedSpec} − ${baseSpec}\n`);
      const result = extractLora(base, tuned, rule, { baseModel: baseSpec });
      await writeResult(
        out,
        result,
        { base: baseSpec, tuned: tunedSpec, modulesToSave: result.adapter.config.modulesToSave },
        opts.json,
        `extracted a LoRA from ${tunedSpec} − ${baseSpec}`,
      );
    } finally {
      tree.dispose(base);
      if (tuned) tree.dispose(tuned);
    }
    return;
  }
  const src = String(dir);
  const base = opts.model === undefined ? undefined : await openWeights(String(opts.model));
  let delta: AdapterDelta | undefined;
  try {
    delta = await readAdapterDelta(src, base && shapesOf(base));
    if (delta.needsBase && base === undefined)
      throw new UsageError(
        `${src} is a ${delta.type} adapter: its ΔW depends on the base weights; give the base model (--model)`,
      );
    if (!opts.json)
      process.stderr.write(
        `converting ${src} (${delta.type}, ${delta.modules.length} modules) to LoRA (${how})\n`,
      );
    const result = convertAdapter(delta, rule, base);
    await writeResult(
      out,
      result,
      { adapter: src, type: delta.type },
      opts.json,
      `converted ${src} to LoRA`,
    );
  } finally {
    delta?.dispose();
    if (base) tree.dispose(base);
  }
}

/** `adapter combine <adapter>... --method m`: one LoRA adapter from several (src/peft/combine). */
export async function adapterCombineCommand(
  dirs: string[],
  opts: {
    method?: string;
    weights?: string;
    density?: string;
    rank?: string;
    seed?: string;
    out?: string;
    model?: string;
    json?: boolean;
  },
): Promise<void> {
  const methods = Object.keys(COMBINE_METHODS).join(", ");
  if (opts.method === undefined) throw new UsageError(`--method is required (${methods})`);
  const options: CombineOptions = {
    method: opts.method,
    weights:
      opts.weights === undefined
        ? undefined
        : String(opts.weights)
            .split(",")
            .map((w) => numberFlag("--weights", w, `one number per adapter, comma-separated`)),
    density:
      opts.density === undefined
        ? undefined
        : numberFlag("--density", opts.density, "a number in (0, 1]"),
    rank:
      opts.rank === undefined
        ? undefined
        : numberFlag("--rank", opts.rank, "a positive integer", true),
    seed:
      opts.seed === undefined
        ? undefined
        : numberFlag("--seed", opts.seed, "a non-negative integer", true),
  };
  checkCombineOptions(options, dirs.length);
  const out = freshOut(opts.out, "combined adapter");
  const base = opts.model === undefined ? undefined : await openWeights(String(opts.model));
  const inputs: AdapterDelta[] = [];
  try {
    for (const d of dirs) inputs.push(await readAdapterDelta(d, base && shapesOf(base)));
    checkCombineInputs(inputs, options, base !== undefined);
    if (!opts.json)
      process.stderr.write(`combining ${dirs.length} adapters by ${options.method}\n`);
    const result = combineAdapters(inputs, options, base);
    await writeResult(
      out,
      result,
      {
        adapters: dirs,
        method: options.method,
        weights: options.weights ?? dirs.map(() => 1),
        modulesToSave: result.adapter.config.modulesToSave,
      },
      opts.json,
      `combined ${dirs.length} adapters by ${options.method}`,
    );
  } finally {
    for (const a of inputs) a.dispose();
    if (base) tree.dispose(base);
  }
}
