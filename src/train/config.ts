/**
 * The training run's configuration: defaults, validation with one-line errors, and loading from
 * a JSON or YAML file. CLI flags override the file, which overrides the defaults.
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { CORPORA } from "../data/corpus.js";
import { TOKENIZER_TYPES } from "../data/tokenizer.js";
import { UsageError } from "../engine/errors.js";
import { llamaParamShapes } from "../nn/llama.js";
import { LLAMA_PRESETS, type LlamaPreset, llamaPreset } from "../nn/llama-config.js";
import { SLTRAIN_DEFAULTS } from "../optim/optimizers/sltrain.js";
import { formatGradient, parseGradient } from "./gradient-source.js";
import { domainNames, parseMixing } from "./mixing/spec.js";
import { type MonitorKind, parseMonitorKinds } from "./monitors/training-monitors.js";
import { getOptimizer, parseOptimizerOptions } from "./registry.js";
import { parseRegularizer } from "./regularizer.js";
import { formatReweight, parseReweight } from "./reweight/spec.js";

/** The learning-rate shapes a run may use (after the linear warm-up). */
export const SCHEDULES = ["constant", "cosine", "linear", "wsd"] as const;
/** One of {@link SCHEDULES}. */
export type ScheduleName = (typeof SCHEDULES)[number];

/**
 * A training run's configuration: CLI flags and config files both end up here (see {@link
 * validateConfig}).
 */
export interface TrainConfig {
  /** Model preset. */
  model: string;
  /** Corpus name or a path to a UTF-8 text file. */
  data: string;
  tokenizer: "char" | "byte";
  optimizer: string;
  /** Options of the optimizer besides the learning rate. */
  optimizerOptions: Record<string, unknown>;
  /** Peak learning rate; default: the optimizer's. */
  lr?: number;
  /** Learning-rate shape. "constant" (after warm-up) does not depend on `steps`, so resumed runs
   *  with a different target step reproduce an uninterrupted run exactly. */
  schedule: ScheduleName;
  warmup: number;
  /** Horizon of decaying schedules; defaults to `steps` of the run that started it. */
  decaySteps?: number;
  steps: number;
  batchSize: number;
  seqLen: number;
  seed: number;
  evalEvery: number;
  evalBatches: number;
  logEvery: number;
  checkpointEvery: number;
  /** Clip the gradient's global norm (0 = off). */
  clipNorm: number;
  /** Micro-batches accumulated per optimizer step. */
  accumulate: number;
  /** Consecutive steps with a non-finite loss, gradient or update (each skipped) that stop the
   *  run as diverged. */
  maxBadSteps: number;
  valFraction: number;
  sampleLength: number;
  temperature: number;
  topK: number;
  out?: string;
  /** The trained objective (train/reweight/spec.ts): none (default), loss-linear[:r],
   *  loss-quadratic[:r], loss-extremes[:r] or focal[:gamma]. */
  reweight?: string;
  /** Train only on this top-scoring fraction of the training windows, by `dataScores`. */
  pruneData?: number;
  /** A `rankwise data-scores` file (train/data-scores.ts) that `pruneData` ranks by. */
  dataScores?: string;
  /** Domain weights when `data` names several domains (default uniform): uniform,
   *  fixed:w1,w2,…, doremi, dga or odm (see train/mixing/). */
  mixing?: string;
  /** DGA's target domain (one of the `data` names). */
  mixingTarget?: string;
  /** DGA's update interval k in steps (default 10). */
  mixingEvery?: number;
  /** DoReMi's reference run folder. */
  reference?: string;
  /** Matrix monitors (train/monitors/training-monitors.ts): spectral, alignment, rank. */
  monitors?: MonitorKind[];
  /** Steps between monitor rows (default 10). */
  monitorEvery?: number;
  /** Regularisers' gradients before the optimizer: spectral:λ, norm:λ (train/regularizer.ts). */
  regularizer?: string;
  /** Initialisation of a fresh model: "hf" (default; Hugging Face's normal) or "idinit"
   *  (nn/init/idinit.ts). */
  init?: "hf" | "idinit";
  /** Gradient source (train/gradient-source.ts): "forward:k" (forward gradients, k directions),
   *  "randomized:k" (sketched linear-layer weight gradients);
   *  absent for backprop. */
  gradient?: string;
  /** Scale-Distribution Decoupling in the decoder's linear layers (nn/sdd-model.ts). */
  sdd?: boolean;
  /** SLTrain's model option (nn/sparse-model.ts): the rank r of every decoder linear module's
   *  (α/r)·B A + S; absent for a dense model. */
  sltrain?: number;
  /** SLTrain's density δ of S (default: sltrain's, 0.01); set with `sltrain`. */
  sltrainDensity?: number;
  /** SLTrain's α (default: sltrain's, 32); set with `sltrain`. */
  sltrainAlpha?: number;
}

/** The defaults of every field of a run's configuration. */
export const DEFAULT_CONFIG: TrainConfig = {
  model: "default",
  data: "moby-dick",
  tokenizer: "char",
  optimizer: "adamw",
  optimizerOptions: {},
  schedule: "constant",
  warmup: 20,
  steps: 600,
  batchSize: 16,
  seqLen: 64,
  seed: 0,
  evalEvery: 100,
  evalBatches: 8,
  logEvery: 10,
  checkpointEvery: 200,
  clipNorm: 1,
  accumulate: 1,
  maxBadSteps: 5,
  valFraction: 0.1,
  sampleLength: 200,
  temperature: 0.8,
  topK: 20,
};

// Bad user input (one line, exit code 2 at the CLI); defined in engine/errors.ts for every layer.
export { UsageError };

const KEYS = Object.keys(DEFAULT_CONFIG).concat([
  "lr",
  "decaySteps",
  "out",
  "mixing",
  "mixingTarget",
  "mixingEvery",
  "reference",
]);

// The objective and data-pruning options (train/reweight, train/data-scores).
KEYS.push("reweight", "pruneData", "dataScores");
// The matrix monitors (train/monitors/).
KEYS.push("monitors", "monitorEvery", "regularizer");
// The initialisation of a fresh model (nn/init/).
KEYS.push("init");
// The gradient source and SDD layers (train/gradient-source.ts, nn/sdd-model.ts).
KEYS.push("gradient", "sdd");
// SLTrain's model option (nn/sparse-model.ts).
KEYS.push("sltrain", "sltrainDensity", "sltrainAlpha");

function int(name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new UsageError(`--${flag(name)} must be an integer ${range}, got "${String(v)}"`);
  }
  return n;
}

function real(
  name: string,
  v: unknown,
  min: number,
  max = Number.POSITIVE_INFINITY,
  open = false,
): number {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n) || n < min || n > max || (open && n === min)) {
    throw new UsageError(
      `--${flag(name)} must be a number ${open ? ">" : "≥"} ${min}${max < Infinity ? ` and ≤ ${max}` : ""}, got "${String(v)}"`,
    );
  }
  return n;
}

function choice<T extends string>(name: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) {
    throw new UsageError(
      `--${flag(name)} must be one of ${allowed.join(", ")}; got "${String(v)}"`,
    );
  }
  return v as T;
}

/** camelCase option → kebab-case flag, for messages. */
const flag = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Validate and normalise a full configuration (numbers from strings, known names). */
export function validateConfig(input: Record<string, unknown>): TrainConfig {
  for (const key of Object.keys(input)) {
    if (key === "finetune")
      throw new UsageError(
        "this is a fine-tuning run's configuration: continue it with rankwise finetune --resume",
      );
    if (!KEYS.includes(key))
      throw new UsageError(`unknown configuration key "${key}" (accepted: ${KEYS.join(", ")})`);
  }
  const c = { ...DEFAULT_CONFIG, ...input } as Record<string, unknown>;
  const model = choice("model", c.model, LLAMA_PRESETS);
  if (typeof c.data !== "string" || c.data === "") {
    throw new UsageError(
      `--data must be a corpus (${CORPORA.map((x) => x.name).join(", ")}) or a file path`,
    );
  }
  const optimizer = getOptimizerOrUsage(String(c.optimizer));
  let optimizerOptions: Record<string, unknown>;
  try {
    optimizerOptions = parseOptimizerOptions(
      optimizer,
      (c.optimizerOptions ?? {}) as Record<string, unknown>,
    );
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const config: TrainConfig = {
    model,
    data: c.data,
    tokenizer: choice("tokenizer", c.tokenizer, TOKENIZER_TYPES),
    optimizer: optimizer.name,
    optimizerOptions,
    schedule: choice("schedule", c.schedule, SCHEDULES),
    warmup: int("warmup", c.warmup, 0),
    steps: int("steps", c.steps, 1),
    batchSize: int("batchSize", c.batchSize, 1, 4096),
    seqLen: int("seqLen", c.seqLen, 2, 8192),
    seed: int("seed", c.seed, 0, 2 ** 31 - 1),
    evalEvery: int("evalEvery", c.evalEvery, 0),
    evalBatches: int("evalBatches", c.evalBatches, 1),
    logEvery: int("logEvery", c.logEvery, 1),
    checkpointEvery: int("checkpointEvery", c.checkpointEvery, 0),
    clipNorm: real("clipNorm", c.clipNorm, 0),
    accumulate: int("accumulate", c.accumulate, 1, 1024),
    maxBadSteps: int("maxBadSteps", c.maxBadSteps, 1),
    valFraction: real("valFraction", c.valFraction, 0, 0.5, true),
    sampleLength: int("sampleLength", c.sampleLength, 0),
    temperature: real("temperature", c.temperature, 0),
    topK: int("topK", c.topK, 0),
  };
  Object.assign(config, validateDataOptions(c));
  if (c.lr !== undefined) config.lr = real("lr", c.lr, 0, 10, true);
  if (c.decaySteps !== undefined) config.decaySteps = int("decaySteps", c.decaySteps, 1);
  if (c.out !== undefined) config.out = String(c.out);
  if (c.monitors !== undefined) config.monitors = parseMonitorKinds(c.monitors);
  if (c.monitorEvery !== undefined) config.monitorEvery = int("monitorEvery", c.monitorEvery, 1);
  if (c.regularizer !== undefined) {
    config.regularizer = String(c.regularizer);
    parseRegularizer(config.regularizer);
  }
  if (c.init !== undefined) {
    if (c.init !== "hf" && c.init !== "idinit") {
      throw new UsageError(`--init must be one of hf, idinit; got "${String(c.init)}"`);
    }
    config.init = c.init;
  }
  Object.assign(config, validateMixing(config.data, c));
  Object.assign(config, validateGradientOptions(config, c));
  Object.assign(config, validateSltrain(config, c));
  return config;
}

/**
 * --sltrain r (with --sltrain-density δ, --sltrain-alpha α; defaults: the optimizer-side sltrain's,
 * optim/optimizers/sltrain.ts): r an integer from 1 to the smallest side of the preset's decoder
 * matrices, δ in (0, 1), α > 0; refused with what replaces or relies on the dense weights.
 */
function validateSltrain(config: TrainConfig, c: Record<string, unknown>): Partial<TrainConfig> {
  if (c.sltrain === undefined) {
    for (const key of ["sltrainDensity", "sltrainAlpha"] as const) {
      if (c[key] !== undefined)
        throw new UsageError(`--${flag(key)} is only used with --sltrain <rank>`);
    }
    return {};
  }
  const shapes = llamaParamShapes(llamaPreset(config.model as LlamaPreset, 2));
  const sides = Object.entries(shapes)
    .filter(([name, shape]) => name.startsWith("model.layers.") && shape.length === 2)
    .flatMap(([, shape]) => shape);
  const rank = int("sltrain", c.sltrain, 1, Math.min(...sides));
  const density =
    c.sltrainDensity === undefined ? SLTRAIN_DEFAULTS.density : Number(c.sltrainDensity);
  if (
    !(density > 0 && density < 1) ||
    (typeof c.sltrainDensity === "string" && c.sltrainDensity.trim() === "")
  ) {
    throw new UsageError(
      `--sltrain-density must be a number in (0, 1), got "${String(c.sltrainDensity)}"`,
    );
  }
  const alpha =
    c.sltrainAlpha === undefined
      ? SLTRAIN_DEFAULTS.loraAlpha
      : real("sltrainAlpha", c.sltrainAlpha, 0, Number.POSITIVE_INFINITY, true);
  const refuse = (why: string) => {
    throw new UsageError(`--sltrain ${why}`);
  };
  if (config.optimizer === "sltrain")
    refuse(
      "is SLTrain as a model option; with --optimizer sltrain it would be applied twice (choose one)",
    );
  if (c.sdd !== undefined && c.sdd !== false && c.sdd !== "false")
    refuse("replaces the decoder linear layers that --sdd scales: use one or the other");
  if (config.init === "idinit") refuse("draws its own factors: use it with --init hf");
  if (config.gradient?.startsWith("randomized"))
    refuse(`leaves no dense linear layer for --gradient ${config.gradient} to sketch`);
  return { sltrain: rank, sltrainDensity: density, sltrainAlpha: alpha };
}

/** The domain-mixing options, checked against the `data` domains (see mixing/spec.ts). */
function validateMixing(data: string, c: Record<string, unknown>): Partial<TrainConfig> {
  const names = domainNames(data);
  if (names.some((n) => n === "")) {
    throw new UsageError(
      `--data has an empty domain name in "${data}" (e.g. --data moby-dick,sotu)`,
    );
  }
  const out: Partial<TrainConfig> = {};
  if (c.mixing === undefined && names.length === 1) {
    for (const key of ["mixingTarget", "mixingEvery", "reference"] as const) {
      if (c[key] !== undefined)
        throw new UsageError(`--${flag(key)} needs several domains in --data and a --mixing rule`);
    }
    return out;
  }
  const mixing = String(c.mixing ?? "uniform");
  const rule = parseMixing(mixing, names).rule;
  out.mixing = mixing;
  if (rule === "doremi" && c.reference === undefined) {
    throw new UsageError(
      "--mixing doremi needs --reference <run>: a run trained on the same --data (e.g. with --mixing uniform)",
    );
  }
  if (rule !== "doremi" && c.reference !== undefined) {
    throw new UsageError("--reference is only used with --mixing doremi");
  }
  if (c.reference !== undefined) out.reference = String(c.reference);
  if (rule === "dga") {
    if (c.mixingTarget === undefined || !names.includes(String(c.mixingTarget))) {
      throw new UsageError(
        `--mixing dga needs --mixing-target <domain>, one of ${names.join(", ")}${c.mixingTarget === undefined ? "" : `; got "${String(c.mixingTarget)}"`}`,
      );
    }
    out.mixingTarget = String(c.mixingTarget);
    if (c.mixingEvery !== undefined) out.mixingEvery = int("mixingEvery", c.mixingEvery, 1);
  } else {
    for (const key of ["mixingTarget", "mixingEvery"] as const) {
      if (c[key] !== undefined)
        throw new UsageError(`--${flag(key)} is only used with --mixing dga`);
    }
  }
  return out;
}

/** --gradient (canonical text; absent for backprop) and --sdd, with what they combine with. */
function validateGradientOptions(config: TrainConfig, c: Record<string, unknown>) {
  const out: Partial<TrainConfig> = {};
  const gradient = formatGradient(parseGradient(c.gradient ?? "backprop"));
  if (gradient !== "backprop") {
    if (config.reweight !== undefined) {
      throw new UsageError(
        `--gradient ${gradient} trains the plain mean cross-entropy: use it with --reweight none`,
      );
    }
    out.gradient = gradient;
  }
  if (c.sdd !== undefined && c.sdd !== false && c.sdd !== "false") {
    if (c.sdd !== true && c.sdd !== "true") {
      throw new UsageError(
        `--sdd takes no value (config files: true or false); got "${String(c.sdd)}"`,
      );
    }
    out.sdd = true;
  }
  if (config.mixing === "upgrad") {
    const m = domainNames(config.data).length;
    if (config.batchSize % m !== 0) {
      throw new UsageError(
        `--mixing upgrad splits each batch evenly over the ${m} domains: --batch-size must be a multiple of ${m}, got ${config.batchSize}`,
      );
    }
  }
  return out;
}

/** --reweight (canonical text; absent when none), --prune-data and --data-scores. */
function validateDataOptions(c: Record<string, unknown>): Partial<TrainConfig> {
  const out: Partial<TrainConfig> = {};
  const reweight = formatReweight(parseReweight(c.reweight ?? "none"));
  if (reweight !== "none") out.reweight = reweight;
  if (c.pruneData !== undefined) {
    out.pruneData = real("pruneData", c.pruneData, 0, 1, true);
    if (typeof c.data === "string" && c.data.includes(",")) {
      throw new UsageError(
        "--prune-data takes one --data corpus (the score file's), not a mixture",
      );
    }
    if (c.dataScores === undefined) {
      throw new UsageError(
        "--prune-data needs --data-scores <file> (written by rankwise data-scores)",
      );
    }
  }
  if (c.dataScores !== undefined) {
    if (out.pruneData === undefined) {
      throw new UsageError("--data-scores is only used with --prune-data <fraction>");
    }
    out.dataScores = String(c.dataScores);
  }
  return out;
}

function getOptimizerOrUsage(name: string) {
  try {
    return getOptimizer(name);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Read a JSON or YAML configuration file (by extension; YAML is a superset of JSON otherwise). */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(
      `cannot read config file ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
  let value: unknown;
  try {
    value = path.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new UsageError(
      `config file ${path} is not valid ${path.endsWith(".json") ? "JSON" : "YAML"}: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError(`config file ${path} must hold a mapping of options`);
  }
  return value as Record<string, unknown>;
}
