/**
 * mergekit's YAML configuration (mergekit/config.py, read not copied), checked into one shape:
 *
 *   merge_method: <name>                 # see methods/index.ts
 *   base_model: <model ref>              # optional; required by task-vector methods
 *   models: [{model, parameters}]        # or:
 *   slices: [{sources: [{model, layer_range: [start, end), parameters}], parameters}]
 *   parameters: {...}                    # top level
 *   dtype: float32 | float16 | bfloat16  # compute dtype: accepted, merging is always float32
 *   out_dtype: float32 | float16 | bfloat16  # output dtype (default `dtype`, else float32; halves rounded
 *                                        # as PyTorch's .to(), io/half-encode.ts)
 *   tokenizer_source: base | union | <model ref>  # unset: the base's (else the first model's)
 *                                        # tokenizer copied; base/<model>: rows re-indexed to its
 *                                        # vocabulary (tokenizer-source.ts); union: every model's
 *                                        # vocabulary (tokenizer-union.ts)
 *   calibration: {data, samples, seq_len, seed}  # Rankwise's: text for fisher, mats and
 *                                        # uncertainty_gm statistics (also per model)
 *
 * `models` becomes one output slice over every layer. A base_model not among a slice's sources is
 * appended to them: mergekit does so for `models` (plan.py normalize_config); for `slices` it needs
 * the base listed, and here it is appended too, with the layer range of the slice's first source. A model ref is a model folder, run folder, Hub id or
 * "model+adapter". Keys mergekit has that are not supported (`modules`, `tokenizer`,
 * `chat_template`) are refused with one line, never ignored.
 */
import { parse } from "yaml";
import { UsageError } from "../../engine/errors.js";

/** A parameter value as written: scalar, gradient list, or list of {filter, value}. */
export type Setting = number | boolean | string | Setting[] | { filter?: string; value: Setting };

/** The dtypes a merged model can be written in. */
export const OUT_DTYPES = ["float32", "float16", "bfloat16"] as const;
export type OutDtype = (typeof OUT_DTYPES)[number];

/** One input of a merge: a model reference with its own parameters (and layer range in slices). */
export interface SourceSpec {
  model: string;
  /** [start, end) layer indices; undefined = every layer. */
  layerRange?: [number, number];
  parameters: Record<string, Setting>;
  /** Calibration text for this model's statistics (methods that measure them); else the top level's. */
  calibration?: CalibrationConfig;
}

/**
 * `calibration: {data, samples, seq_len, seed}` (Rankwise's key, not mergekit's; or just the data
 * name): the text the statistics of fisher, uncertainty_gm and mats are measured on, at the top
 * level or per model (each model's own task data, as the papers measure each task's Fisher).
 */
export interface CalibrationConfig {
  /** A corpus name or a UTF-8 text file. */
  data: string;
  samples: number;
  /** undefined = min(128, the model's max_position_embeddings). */
  seqLen?: number;
  seed: number;
}

/** One output slice: its sources and the parameters shared by them. */
export interface SliceSpec {
  sources: SourceSpec[];
  parameters: Record<string, Setting>;
}

/** A parsed mergekit YAML configuration (see {@link parseMergeConfig}). */
export interface MergeConfig {
  method: string;
  baseModel?: string;
  slices: SliceSpec[];
  /** Whether the file used `slices` (layer ranges given) rather than `models`. */
  sliced: boolean;
  parameters: Record<string, Setting>;
  outDtype: OutDtype;
  tokenizerSource?: string;
  calibration?: CalibrationConfig;
}

const TOP_KEYS = [
  "merge_method",
  "base_model",
  "models",
  "slices",
  "parameters",
  "dtype",
  "out_dtype",
  "tokenizer_source",
  "calibration",
];

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);

const show = (x: unknown) => JSON.stringify(x) ?? String(x);

function checkSetting(value: unknown, where: string): Setting {
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "string") {
    if (typeof value === "number" && !Number.isFinite(value)) {
      throw new UsageError(`${where}: ${value} is not a finite number`);
    }
    return value;
  }
  if (Array.isArray(value) && value.length > 0) {
    return value.map((v, i) => checkSetting(v, `${where}[${i}]`));
  }
  if (isObject(value) && "value" in value) {
    for (const k of Object.keys(value)) {
      if (k !== "filter" && k !== "value") {
        throw new UsageError(`${where}: unknown key "${k}"; a filtered value has filter, value`);
      }
    }
    if (value.filter !== undefined && typeof value.filter !== "string") {
      throw new UsageError(`${where}.filter must be a string (part of a tensor name)`);
    }
    return {
      filter: value.filter as string | undefined,
      value: checkSetting(value.value, `${where}.value`),
    };
  }
  throw new UsageError(
    `${where}: ${show(value)} is not a parameter value; accepted: a number, true/false, a string, a gradient list of numbers, or a list of {filter, value}`,
  );
}

function checkParameters(value: unknown, where: string): Record<string, Setting> {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw new UsageError(`${where} must be a mapping of name: value`);
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, checkSetting(v, `${where}.${k}`)]),
  );
}

function checkRef(value: unknown, where: string): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw new UsageError(
      `${where} must be a model: a model folder, a run folder, a Hub id owner/name or model+adapter`,
    );
  }
  return value;
}

function checkSource(value: unknown, where: string, sliced: boolean): SourceSpec {
  if (typeof value === "string") value = { model: value };
  if (!isObject(value)) throw new UsageError(`${where} must be a mapping with "model"`);
  const allowed = sliced
    ? ["model", "layer_range", "parameters", "calibration"]
    : ["model", "parameters", "calibration"];
  for (const k of Object.keys(value)) {
    if (!allowed.includes(k)) {
      throw new UsageError(`${where}: unknown key "${k}"; accepted: ${allowed.join(", ")}`);
    }
  }
  const source: SourceSpec = {
    model: checkRef(value.model, `${where}.model`),
    parameters: checkParameters(value.parameters, `${where}.parameters`),
  };
  if (value.calibration !== undefined) {
    source.calibration = checkCalibration(value.calibration, `${where}.calibration`);
  }
  if (sliced) {
    const r = value.layer_range;
    if (
      !Array.isArray(r) ||
      r.length !== 2 ||
      !r.every((x) => Number.isInteger(x) && x >= 0) ||
      r[0] >= r[1]
    ) {
      throw new UsageError(
        `${where}.layer_range must be [start, end) with integers 0 ≤ start < end, got ${show(r)}`,
      );
    }
    source.layerRange = [r[0], r[1]];
  }
  return source;
}

const CALIBRATION_KEYS = ["data", "samples", "seq_len", "seed"];

function checkCalibration(value: unknown, where: string): CalibrationConfig {
  if (typeof value === "string" && value !== "") value = { data: value };
  if (!isObject(value) || typeof value.data !== "string" || value.data === "") {
    throw new UsageError(
      `${where} must be {data: <corpus name or text file>, samples, seq_len, seed} or just the data`,
    );
  }
  for (const k of Object.keys(value)) {
    if (!CALIBRATION_KEYS.includes(k)) {
      throw new UsageError(
        `${where}: unknown key "${k}"; accepted: ${CALIBRATION_KEYS.join(", ")}`,
      );
    }
  }
  const int = (key: string, min: number, fallback: number | undefined) => {
    const v = value[key];
    if (v === undefined) return fallback;
    if (!Number.isSafeInteger(v) || (v as number) < min) {
      throw new UsageError(`${where}.${key} must be an integer ≥ ${min}, got ${show(v)}`);
    }
    return v as number;
  };
  return {
    data: value.data,
    samples: int("samples", 1, 32)!,
    seqLen: int("seq_len", 2, undefined),
    seed: int("seed", 0, 0)!,
  };
}

/** Parse and check a mergekit YAML text. */
export function parseMergeConfig(text: string): MergeConfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (error) {
    throw new UsageError(
      `the merge config is not valid YAML: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  if (!isObject(doc))
    throw new UsageError("the merge config must be a YAML mapping (merge_method: ...)");
  for (const k of Object.keys(doc)) {
    if (!TOP_KEYS.includes(k)) {
      throw new UsageError(
        `unknown key "${k}" in the merge config; accepted: ${TOP_KEYS.join(", ")}`,
      );
    }
  }
  if (typeof doc.merge_method !== "string") {
    throw new UsageError(
      "merge_method is required: the name of a merge method (e.g. linear, ties)",
    );
  }
  const hasModels = doc.models !== undefined;
  const hasSlices = doc.slices !== undefined;
  if (hasModels === hasSlices) {
    throw new UsageError("the merge config needs exactly one of models or slices");
  }
  let slices: SliceSpec[];
  if (hasModels) {
    if (!Array.isArray(doc.models) || doc.models.length === 0) {
      throw new UsageError("models must be a non-empty list of {model, parameters}");
    }
    const sources = doc.models.map((m, i) => checkSource(m, `models[${i}]`, false));
    slices = [{ sources, parameters: {} }];
  } else {
    if (!Array.isArray(doc.slices) || doc.slices.length === 0) {
      throw new UsageError("slices must be a non-empty list of {sources, parameters}");
    }
    slices = doc.slices.map((s, i) => {
      const where = `slices[${i}]`;
      if (!isObject(s) || !Array.isArray(s.sources) || s.sources.length === 0) {
        throw new UsageError(`${where} must be a mapping with a non-empty list "sources"`);
      }
      for (const k of Object.keys(s)) {
        if (k !== "sources" && k !== "parameters") {
          throw new UsageError(`${where}: unknown key "${k}"; accepted: sources, parameters`);
        }
      }
      return {
        sources: s.sources.map((src, j) => checkSource(src, `${where}.sources[${j}]`, true)),
        parameters: checkParameters(s.parameters, `${where}.parameters`),
      };
    });
  }
  const baseModel =
    doc.base_model === undefined || doc.base_model === null
      ? undefined
      : checkRef(doc.base_model, "base_model");
  if (baseModel !== undefined) {
    for (const slice of slices) {
      if (slice.sources.some((s) => s.model === baseModel)) continue;
      const range = slice.sources[0]!.layerRange;
      slice.sources.push({ model: baseModel, layerRange: range, parameters: {} });
    }
  }
  const dtypes = ["float32", "float16", "bfloat16"];
  if (doc.dtype !== undefined && !dtypes.includes(doc.dtype as string)) {
    throw new UsageError(`dtype must be one of ${dtypes.join(", ")}, got ${show(doc.dtype)}`);
  }
  if (doc.out_dtype !== undefined && !OUT_DTYPES.includes(doc.out_dtype as OutDtype)) {
    throw new UsageError(
      `out_dtype must be one of ${OUT_DTYPES.join(", ")}, got ${show(doc.out_dtype)}`,
    );
  }
  let tokenizerSource: string | undefined;
  if (doc.tokenizer_source !== undefined && doc.tokenizer_source !== null) {
    tokenizerSource =
      doc.tokenizer_source === "union"
        ? "union"
        : checkRef(doc.tokenizer_source, "tokenizer_source");
  }
  return {
    method: doc.merge_method,
    baseModel,
    slices,
    sliced: hasSlices,
    parameters: checkParameters(doc.parameters, "parameters"),
    // mergekit writes its compute dtype when out_dtype is unset (plan.py: out_dtype or the
    // tensors' own, loaded in `dtype`).
    outDtype: (doc.out_dtype ?? doc.dtype ?? "float32") as OutDtype,
    tokenizerSource,
    calibration:
      doc.calibration === undefined || doc.calibration === null
        ? undefined
        : checkCalibration(doc.calibration, "calibration"),
  };
}
