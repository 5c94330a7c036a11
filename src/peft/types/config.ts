/**
 * adapter_config.json for registered adapter types (./registry.ts), both ways, from each type's
 * field table.
 *
 * Rule (as ../config.ts does for LoRA, after PEFT's PeftConfig.save_pretrained/from_pretrained):
 * the common fields (peft_type, task_type "CAUSAL_LM", base_model_name_or_path, revision,
 * inference_mode, target_modules, exclude_modules, modules_to_save; less those PEFT's class of
 * the type lacks, `omitFields`) plus the type's own fields, each with PEFT's default; written as
 * `json.dumps(asdict(config), indent=2, sort_keys=True)` with inference_mode true; read needing
 * only peft_type, tolerating unknown keys (returned as `ignored`), a null value meaning the
 * default. A bad value is a one-line UsageError naming the
 * field and the accepted values.
 */
import { UsageError } from "../../engine/errors.js";
import type { AdapterType, FieldSpec, TypedConfig } from "./registry.js";

export const snake = (s: string) => s.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`);
export const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, m: string) => m.toUpperCase());

const isStringList = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((x) => typeof x === "string");

/** A list of module names, a regex string, or null (target_modules and the like). */
export const modulesField = (key: string): FieldSpec => ({
  key,
  default: null,
  ok: (v) => v === null || typeof v === "string" || isStringList(v),
  accepted: "a list of module names, a regex string or null",
});
export const boolField = (key: string, def: boolean): FieldSpec => ({
  key,
  default: def,
  ok: (v) => typeof v === "boolean",
  accepted: "true or false",
});
export const intField = (key: string, def: number, min = 1): FieldSpec => ({
  key,
  default: def,
  ok: (v) => Number.isInteger(v) && (v as number) >= min,
  accepted: min === 1 ? "a positive integer" : `an integer ≥ ${min}`,
});
export const numberField = (
  key: string,
  def: number,
  min = -Infinity,
  max = Infinity,
): FieldSpec => ({
  key,
  default: def,
  ok: (v) => typeof v === "number" && Number.isFinite(v) && v >= min && v <= max,
  accepted:
    min === -Infinity
      ? "a finite number"
      : max === Infinity
        ? `a number ≥ ${min}`
        : `a number in [${min}, ${max}]`,
});
export const patternField = (key: string, integer: boolean): FieldSpec => ({
  key,
  default: {},
  ok: (v) =>
    typeof v === "object" &&
    v !== null &&
    !Array.isArray(v) &&
    Object.values(v).every(
      (x) => typeof x === "number" && x > 0 && (!integer || Number.isInteger(x)),
    ),
  accepted: `an object of module pattern → ${integer ? "positive integer" : "positive number"}`,
});
/** layers_to_transform and layers_pattern (PEFT's Lycoris configs have both). */
export const LAYER_FIELDS: FieldSpec[] = [
  {
    key: "layersToTransform",
    default: null,
    ok: (v) =>
      v === null ||
      (Number.isInteger(v) && (v as number) >= 0) ||
      (Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0)),
    accepted: "a layer index, a list of them, or null",
  },
  modulesField("layersPattern"),
];

const COMMON: FieldSpec[] = [
  {
    key: "taskType",
    default: "CAUSAL_LM",
    ok: (v) => v === null || typeof v === "string",
    accepted: "a string or null",
  },
  {
    key: "baseModelNameOrPath",
    default: null,
    ok: (v) => v === null || typeof v === "string",
    accepted: "a string or null",
  },
  {
    key: "revision",
    default: null,
    ok: (v) => v === null || typeof v === "string",
    accepted: "a string or null",
  },
  boolField("inferenceMode", false),
  modulesField("targetModules"),
  modulesField("excludeModules"),
  {
    key: "modulesToSave",
    default: null,
    ok: (v) => v === null || isStringList(v),
    accepted: "a list of module names or null",
  },
];

/** PEFT's bookkeeping fields: read silently. */
const HARMLESS = ["auto_mapping", "peft_version", "runtime_config"];

const allFields = (type: AdapterType) => [...COMMON, ...type.fields];
/** The fields of `type`'s file: all but the common ones PEFT's class lacks (type.omitFields). */
const fileFields = (type: AdapterType) =>
  allFields(type).filter((f) => !type.omitFields?.includes(f.key));

/** A complete, validated config of `type` from camelCase input (defaults for the rest). */
export function typedConfig<C extends TypedConfig>(
  type: AdapterType<C>,
  input: Partial<C> = {},
  where = "adapter config",
): C {
  const out: Record<string, unknown> = { peftType: type.peftType };
  for (const f of allFields(type)) {
    const given = (input as Record<string, unknown>)[f.key];
    const v = given === undefined ? f.default : given;
    if (type.omitFields?.includes(f.key) && v !== f.default)
      throw new UsageError(
        `${where}: ${type.title} has no ${snake(f.key)} (PEFT's config of ${type.peftType} lacks it); accepted: leave it unset`,
      );
    if (!f.ok(v))
      throw new UsageError(
        `${where}: ${f.file ?? snake(f.key)} ${JSON.stringify(v)} is not accepted (${f.accepted})`,
      );
    out[f.key] = typeof v === "object" && v !== null && !Array.isArray(v) ? { ...v } : v;
  }
  const config = out as unknown as C;
  try {
    type.validate?.(config);
  } catch (error) {
    if (error instanceof UsageError)
      error.message = error.message.replace(/^adapter config/, where);
    throw error;
  }
  return config;
}

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

/** The adapter_config.json object PEFT writes for this config (snake_case, keys sorted). */
export function typedConfigToJson(type: AdapterType, config: TypedConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { peft_type: type.peftType };
  for (const f of fileFields(type))
    if (!f.readOnly)
      out[f.file ?? snake(f.key)] = (config as unknown as Record<string, unknown>)[f.key];
  out.inference_mode = true;
  return sortKeys(out) as Record<string, unknown>;
}

/** Read a parsed adapter_config.json of `type`; unknown keys come back in `ignored`. */
export function typedConfigFromJson(
  type: AdapterType,
  json: Record<string, unknown>,
  where: string,
): { config: TypedConfig; ignored: string[] } {
  const known = new Map(fileFields(type).map((f) => [f.file ?? snake(f.key), f.key]));
  const input: Record<string, unknown> = {};
  const ignored: string[] = [];
  for (const [key, value] of Object.entries(json)) {
    if (key === "peft_type" || HARMLESS.includes(key)) continue;
    const k = known.get(key);
    if (k === undefined) ignored.push(key);
    else if (value !== null || key === "task_type") input[k] = value;
  }
  return { config: typedConfig(type, input, where), ignored };
}
