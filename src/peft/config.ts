/**
 * The adapter configuration: PEFT's `LoraConfig` (huggingface/peft src/peft/tuners/lora/config.py)
 * with camelCase names in TypeScript and PEFT's snake_case names in `adapter_config.json`.
 *
 * Rule: every field has PEFT's default (r 8, lora_alpha 8, lora_dropout 0, bias "none",
 * init_lora_weights true, ...). Reading a file tolerates unknown keys (PEFT drops them with a
 * warning; here they are returned as `ignored` for the caller to mention; PEFT's own
 * bookkeeping fields such as peft_version and auto_mapping are read silently) and needs only
 * `peft_type`; an unsupported `peft_type`, or a LoRA feature Rankwise does not implement set to a
 * non-default value (lora_bias, layer_replication, target_parameters, ...), is a one-line
 * UsageError. Writing follows PEFT's `save_pretrained`: `json.dumps(asdict(config), indent=2,
 * sort_keys=True)` (nested dictionaries sorted too, so pattern keys come out sorted, as PEFT's do),
 * `inference_mode` true.
 *
 * Deviations: `fan_in_fan_out` is accepted and ignored (PEFT resets it to false for nn.Linear,
 * and every LLaMA projection is an nn.Linear); `bias` "all"/"lora_only" are accepted as no-ops
 * (LLaMA's projections have no biases to train); `lora_dropout` is stored but is a train-time
 * option of the caller (Rankwise's adapted forward is deterministic).
 */
import { UsageError } from "../engine/errors.js";

/** LoRA-GA's options (PEFT's LoraGAConfig). */
export interface LoraGaConfig {
  /** Which singular vectors go to A and B: "ArB2r" (default), "A2rBr", "ArBr", "random". */
  direction: "ArBr" | "A2rBr" | "ArB2r" | "random";
  /** "stable" (default), "weight_svd", "gd_scale" or "unit". */
  scale: "stable" | "weight_svd" | "gd_scale" | "unit";
  /** γ of the "stable" scale (default 16). */
  stableGamma: number;
}

/** EVA's options (PEFT's EvaConfig; only the ones that change the result here). */
export interface EvaConfig {
  /** Largest rank of a layer as a multiple of r (default 2). */
  rho: number;
  /** Divide A's rows by the square roots of their singular values (default false). */
  whiten: boolean;
  /** Scale alpha with the redistributed rank so that alpha/r stays (default true). */
  adjustScalingFactors: boolean;
}

/** The accepted `init_lora_weights` values (PEFT's names). */
export type InitLoraWeights =
  | boolean
  | "gaussian"
  | "orthogonal"
  | "pissa"
  | `pissa_niter_${number}`
  | "olora"
  | "lora_ga"
  | "eva";

/** A LoRA-family adapter configuration (PEFT's LoraConfig). */
export interface LoraConfig {
  peftType: "LORA";
  taskType: string | null;
  baseModelNameOrPath: string | null;
  revision: string | null;
  /** Rank. */
  r: number;
  loraAlpha: number;
  /** Train-time dropout on the adapter input (the caller applies it). */
  loraDropout: number;
  /** Names or dotted suffixes (list), a regex matched in full (string), or "all-linear". */
  targetModules: string[] | string | null;
  excludeModules: string[] | string | null;
  layersToTransform: number[] | number | null;
  layersPattern: string[] | string | null;
  /** Per-module rank: key k matches a module name n when n matches `(.*\.)?(k)$`. */
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  /** Modules trained and saved in full (e.g. ["lm_head"]). */
  modulesToSave: string[] | null;
  useRslora: boolean;
  useDora: boolean;
  initLoraWeights: InitLoraWeights;
  fanInFanOut: boolean;
  bias: "none" | "all" | "lora_only";
  inferenceMode: boolean;
  loraGaConfig: LoraGaConfig | null;
  evaConfig: EvaConfig | null;
}

/** What a caller may give; everything else takes PEFT's default. */
export type LoraConfigInput = Partial<
  Omit<LoraConfig, "peftType" | "loraGaConfig" | "evaConfig">
> & {
  loraGaConfig?: Partial<LoraGaConfig> | null;
  evaConfig?: Partial<EvaConfig> | null;
};

/** The `peft_type` values Rankwise reads and writes. */
export const SUPPORTED_PEFT_TYPES = ["LORA"] as const;

const INIT_NAMES = [
  "true",
  "false",
  "gaussian",
  "orthogonal",
  "pissa",
  "pissa_niter_N",
  "olora",
  "lora_ga",
  "eva",
];

/** PEFT's LoraGAConfig defaults. */
export const LORA_GA_DEFAULTS: LoraGaConfig = {
  direction: "ArB2r",
  scale: "stable",
  stableGamma: 16,
};
/** PEFT's EvaConfig defaults (of the fields used here). */
export const EVA_DEFAULTS: EvaConfig = { rho: 2, whiten: false, adjustScalingFactors: true };

const bad = (field: string, value: unknown, accepted: string) =>
  new UsageError(`adapter config: ${field} ${JSON.stringify(value)} is not accepted (${accepted})`);

const isStringList = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((x) => typeof x === "string");

function checkPattern(field: string, v: unknown): Record<string, number> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw bad(field, v, "an object of module pattern → number");
  }
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== "number" || !(x > 0)) throw bad(`${field}["${k}"]`, x, "a positive number");
  }
  return { ...(v as Record<string, number>) };
}

/** Build a complete, validated config; throws a one-line UsageError naming a bad field. */
export function loraConfig(input: LoraConfigInput = {}): LoraConfig {
  const c: LoraConfig = {
    peftType: "LORA",
    taskType: input.taskType === undefined ? "CAUSAL_LM" : input.taskType,
    baseModelNameOrPath: input.baseModelNameOrPath ?? null,
    revision: input.revision ?? null,
    r: input.r ?? 8,
    loraAlpha: input.loraAlpha ?? 8,
    loraDropout: input.loraDropout ?? 0,
    targetModules: input.targetModules ?? null,
    excludeModules: input.excludeModules ?? null,
    layersToTransform: input.layersToTransform ?? null,
    layersPattern: input.layersPattern ?? null,
    rankPattern: input.rankPattern ?? {},
    alphaPattern: input.alphaPattern ?? {},
    modulesToSave: input.modulesToSave ?? null,
    useRslora: input.useRslora ?? false,
    useDora: input.useDora ?? false,
    initLoraWeights: input.initLoraWeights ?? true,
    fanInFanOut: input.fanInFanOut ?? false,
    bias: input.bias ?? "none",
    inferenceMode: input.inferenceMode ?? false,
    loraGaConfig:
      input.loraGaConfig === undefined || input.loraGaConfig === null
        ? input.initLoraWeights === "lora_ga"
          ? { ...LORA_GA_DEFAULTS }
          : null
        : { ...LORA_GA_DEFAULTS, ...input.loraGaConfig },
    evaConfig:
      input.evaConfig === undefined || input.evaConfig === null
        ? input.initLoraWeights === "eva"
          ? { ...EVA_DEFAULTS }
          : null
        : { ...EVA_DEFAULTS, ...input.evaConfig },
  };
  validate(c);
  return c;
}

function validate(c: LoraConfig): void {
  if (!Number.isInteger(c.r) || c.r < 1) throw bad("r", c.r, "a positive integer");
  if (typeof c.loraAlpha !== "number" || !Number.isFinite(c.loraAlpha)) {
    throw bad("lora_alpha", c.loraAlpha, "a finite number");
  }
  if (typeof c.loraDropout !== "number" || !(c.loraDropout >= 0 && c.loraDropout < 1)) {
    throw bad("lora_dropout", c.loraDropout, "a number in [0, 1)");
  }
  for (const [field, v] of [
    ["target_modules", c.targetModules],
    ["exclude_modules", c.excludeModules],
    ["layers_pattern", c.layersPattern],
  ] as const) {
    if (v !== null && typeof v !== "string" && !isStringList(v)) {
      throw bad(field, v, "a list of module names, a regex string or null");
    }
  }
  const ltt = c.layersToTransform;
  if (
    ltt !== null &&
    !(Number.isInteger(ltt) && (ltt as number) >= 0) &&
    !(Array.isArray(ltt) && ltt.every((x) => Number.isInteger(x) && x >= 0))
  ) {
    throw bad("layers_to_transform", ltt, "a layer index, a list of them, or null");
  }
  // PEFT's LoraConfig.__post_init__ refuses these combinations.
  if (typeof c.targetModules === "string" && c.targetModules !== "all-linear") {
    if (ltt !== null)
      throw new UsageError(
        "adapter config: layers_to_transform cannot be used when target_modules is a regex string",
      );
    if (c.layersPattern !== null)
      throw new UsageError(
        "adapter config: layers_pattern cannot be used when target_modules is a regex string",
      );
  }
  if (c.layersPattern !== null && c.layersPattern.length > 0 && ltt === null) {
    throw new UsageError("adapter config: layers_pattern needs layers_to_transform");
  }
  c.rankPattern = checkPattern("rank_pattern", c.rankPattern);
  for (const [k, v] of Object.entries(c.rankPattern)) {
    if (!Number.isInteger(v)) throw bad(`rank_pattern["${k}"]`, v, "a positive integer");
  }
  c.alphaPattern = checkPattern("alpha_pattern", c.alphaPattern);
  if (c.modulesToSave !== null && !isStringList(c.modulesToSave)) {
    throw bad("modules_to_save", c.modulesToSave, "a list of module names or null");
  }
  for (const f of ["useRslora", "useDora", "fanInFanOut", "inferenceMode"] as const) {
    if (typeof c[f] !== "boolean") throw bad(snake(f), c[f], "true or false");
  }
  if (!["none", "all", "lora_only"].includes(c.bias)) {
    throw bad("bias", c.bias, '"none", "all" or "lora_only"');
  }
  const init = c.initLoraWeights;
  const initOk =
    typeof init === "boolean" ||
    ["gaussian", "orthogonal", "pissa", "olora", "lora_ga", "eva"].includes(init) ||
    /^pissa_niter_\d+$/.test(init);
  if (!initOk) throw bad("init_lora_weights", init, `accepted: ${INIT_NAMES.join(", ")}`);
  if (init === "orthogonal" && c.r % 2 !== 0) {
    throw new UsageError(
      `adapter config: init_lora_weights "orthogonal" needs an even r, got ${c.r}`,
    );
  }
  if (c.useDora && (init === "lora_ga" || init === "eva")) {
    throw new UsageError(
      `adapter config: use_dora does not combine with init_lora_weights "${init}"`,
    );
  }
  if (c.loraGaConfig) {
    const g = c.loraGaConfig;
    if (!["ArBr", "A2rBr", "ArB2r", "random"].includes(g.direction)) {
      throw bad("lora_ga_config.direction", g.direction, '"ArBr", "A2rBr", "ArB2r" or "random"');
    }
    if (!["stable", "weight_svd", "gd_scale", "unit"].includes(g.scale)) {
      throw bad("lora_ga_config.scale", g.scale, '"stable", "weight_svd", "gd_scale" or "unit"');
    }
    if (typeof g.stableGamma !== "number" || !(g.stableGamma > 0)) {
      throw bad("lora_ga_config.stable_gamma", g.stableGamma, "a positive number");
    }
  }
  if (c.evaConfig) {
    const e = c.evaConfig;
    if (typeof e.rho !== "number" || !(e.rho >= 1))
      throw bad("eva_config.rho", e.rho, "a number ≥ 1");
    if (typeof e.whiten !== "boolean") throw bad("eva_config.whiten", e.whiten, "true or false");
    if (typeof e.adjustScalingFactors !== "boolean") {
      throw bad("eva_config.adjust_scaling_factors", e.adjustScalingFactors, "true or false");
    }
  }
}

/** camelCase → snake_case. */
const snake = (s: string) => s.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`);
const camel = (s: string) => s.replace(/_([a-z])/g, (_, m: string) => m.toUpperCase());

/** The top-level fields mapped between the two spellings (PEFT's names on disk). */
const FIELDS: (keyof LoraConfig)[] = [
  "peftType",
  "taskType",
  "baseModelNameOrPath",
  "revision",
  "r",
  "loraAlpha",
  "loraDropout",
  "targetModules",
  "excludeModules",
  "layersToTransform",
  "layersPattern",
  "rankPattern",
  "alphaPattern",
  "modulesToSave",
  "useRslora",
  "useDora",
  "initLoraWeights",
  "fanInFanOut",
  "bias",
  "inferenceMode",
];

/**
 * PEFT LoraConfig fields this implementation does not have: accepted at their default (null,
 * false, empty), a one-line UsageError otherwise.
 */
const UNSUPPORTED_UNLESS_DEFAULT = [
  "lora_bias",
  "layer_replication",
  "target_parameters",
  "trainable_token_indices",
  "use_qalora",
  "megatron_config",
  "loftq_config",
  "corda_config",
  "use_bdlora",
  "alora_invocation_tokens",
  "arrow_config",
  "velora_config",
  "monteclora_config",
  "kasa_config",
];

/** PEFT fields that change nothing here: read silently, not reported as ignored. */
const HARMLESS = [
  "auto_mapping",
  "peft_version",
  "megatron_core",
  "qalora_group_size",
  "runtime_config",
  "ensure_weight_tying",
];

const isDefaultish = (v: unknown) =>
  v === null ||
  v === false ||
  v === undefined ||
  (Array.isArray(v) && v.length === 0) ||
  (typeof v === "object" && v !== null && Object.keys(v).length === 0);

/** Recursively sorted keys, as Python's json.dumps(sort_keys=True). */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (typeof v === "object" && v !== null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** The `adapter_config.json` object PEFT writes for this config (keys sorted, snake_case). */
export function configToPeftJson(config: LoraConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of FIELDS) out[snake(f)] = config[f];
  out.inference_mode = true;
  out.lora_bias = false;
  out.lora_ga_config = config.loraGaConfig
    ? {
        direction: config.loraGaConfig.direction,
        scale: config.loraGaConfig.scale,
        stable_gamma: config.loraGaConfig.stableGamma,
      }
    : null;
  out.eva_config = config.evaConfig
    ? {
        adjust_scaling_factors: config.evaConfig.adjustScalingFactors,
        rho: config.evaConfig.rho,
        whiten: config.evaConfig.whiten,
      }
    : null;
  return sortKeys(out) as Record<string, unknown>;
}

/** The text of `adapter_config.json`. */
export function configToPeftText(config: LoraConfig): string {
  return JSON.stringify(configToPeftJson(config), null, 2);
}

/** A parsed config and the keys it ignored (unknown to Rankwise, or null-valued extras). */
export interface ParsedConfig {
  config: LoraConfig;
  ignored: string[];
}

/** Read a parsed `adapter_config.json`. Throws a one-line UsageError for what it cannot honour. */
export function configFromPeftJson(json: unknown, where = "adapter_config.json"): ParsedConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new UsageError(`${where}: expected a JSON object`);
  }
  const obj = json as Record<string, unknown>;
  const type = obj.peft_type;
  if (type === undefined) {
    throw new UsageError(
      `${where}: peft_type is missing (supported: ${SUPPORTED_PEFT_TYPES.join(", ")})`,
    );
  }
  if (!(SUPPORTED_PEFT_TYPES as readonly unknown[]).includes(type)) {
    throw new UsageError(
      `${where}: unsupported peft_type ${JSON.stringify(type)} (supported: ${SUPPORTED_PEFT_TYPES.join(", ")})`,
    );
  }
  const input: Record<string, unknown> = {};
  const ignored: string[] = [];
  const known = new Set(FIELDS.map(snake));
  for (const [key, value] of Object.entries(obj)) {
    if (key === "peft_type") continue;
    if (known.has(key)) {
      if (value !== null || key === "task_type") input[camel(key)] = value;
      continue;
    }
    if (UNSUPPORTED_UNLESS_DEFAULT.includes(key)) {
      if (!isDefaultish(value)) {
        throw new UsageError(
          `${where}: ${key} ${JSON.stringify(value)} is not supported by Rankwise (only its default)`,
        );
      }
      continue;
    }
    if (HARMLESS.includes(key)) continue;
    if (key === "lora_ga_config" || key === "eva_config") {
      if (value !== null && value !== undefined) {
        if (typeof value !== "object") throw bad(key, value, "an object or null");
        const sub: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) sub[camel(k)] = v;
        input[camel(key)] = sub;
      }
      continue;
    }
    ignored.push(key);
  }
  // Drop sub-config keys Rankwise does not use, keeping only known ones.
  if (input.loraGaConfig) {
    const { direction, scale, stableGamma } = input.loraGaConfig as Record<string, unknown>;
    input.loraGaConfig = Object.fromEntries(
      Object.entries({ direction, scale, stableGamma }).filter(([, v]) => v !== undefined),
    );
  }
  if (input.evaConfig) {
    const { rho, whiten, adjustScalingFactors } = input.evaConfig as Record<string, unknown>;
    input.evaConfig = Object.fromEntries(
      Object.entries({ rho, whiten, adjustScalingFactors }).filter(([, v]) => v !== undefined),
    );
  }
  try {
    return { config: loraConfig(input as LoraConfigInput), ignored };
  } catch (err) {
    if (err instanceof UsageError) err.message = err.message.replace(/^adapter config/, where);
    throw err;
  }
}
