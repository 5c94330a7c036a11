import { join } from "node:path";
import type { numpy as np } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import type { LlamaParams } from "../../nn/llama.js";
import { configFromPeftJson, configToPeftJson, type LoraConfig } from "../config.js";
import { ADAPTER_CONFIG_FILE, loadAdapter, readAdapterConfigJson, saveAdapter } from "../files.js";
import { type AdapterPlan, planAdapter } from "../match.js";
import { initTyped, planTyped, type TypedPlan } from "./apply.js";
import "./builtin.js";
import { typedConfig, typedConfigFromJson, typedConfigToJson } from "./config.js";
import { loadTypedAdapter, saveTypedAdapter } from "./files.js";
import { LORA_METHODS, LORA_PEFT_TYPE } from "./lora.js";
import {
  type AdapterType,
  adapterType,
  adapterTypes,
  type TypedConfig,
  type TypeSettings,
  typeOfMethod,
} from "./registry.js";

/** Any adapter's config: LoRA's, or a registered type's. */
export type AnyConfig = LoraConfig | TypedConfig;
/** Any adapter's plan. */
export type AnyPlan = AdapterPlan | TypedPlan;

/** Whether a config is the LoRA family's. */
export const isLoraConfig = (c: AnyConfig): c is LoraConfig => c.peftType === LORA_PEFT_TYPE;

/** The registered type of a non-LoRA config. */
export const typeOfConfig = (c: TypedConfig): AdapterType =>
  adapterType(c.peftType, "adapter config");

/** Every `finetune --adapter` name: the LoRA family's, then each registered type's. */
export const adapterMethods = (): string[] => [
  ...LORA_METHODS,
  ...adapterTypes().flatMap((t) => t.methods),
];

/** A parsed adapter_config.json of any type, and the keys it ignored. */
export function anyConfigFromJson(
  json: unknown,
  where = ADAPTER_CONFIG_FILE,
): { config: AnyConfig; ignored: string[] } {
  if (typeof json !== "object" || json === null || Array.isArray(json))
    throw new UsageError(`${where}: expected a JSON object`);
  const obj = json as Record<string, unknown>;
  if (obj.peft_type === undefined || obj.peft_type === LORA_PEFT_TYPE)
    return configFromPeftJson(obj, where);
  return typedConfigFromJson(adapterType(obj.peft_type, where), obj, where);
}

/** The adapter_config.json object PEFT writes for this config. */
export function anyConfigToJson(config: AnyConfig): Record<string, unknown> {
  return isLoraConfig(config)
    ? configToPeftJson(config)
    : typedConfigToJson(typeOfConfig(config), config);
}

/** Resolve any config against base shapes (HF name → shape). */
export function planAny(config: AnyConfig, baseShapes: Record<string, number[]>): AnyPlan {
  return isLoraConfig(config)
    ? planAdapter(config, baseShapes)
    : planTyped(typeOfConfig(config), config, baseShapes);
}

/** Read and parse `dir/adapter_config.json`, a JSON object (one-line errors). */
export async function readAdapterJson(dir: string): Promise<Record<string, unknown>> {
  const path = join(dir, ADAPTER_CONFIG_FILE);
  const json = await readAdapterConfigJson(dir);
  if (typeof json !== "object" || json === null || Array.isArray(json))
    throw new UsageError(`${path}: expected a JSON object`);
  return json as Record<string, unknown>;
}

/** A loaded adapter of any type, resolved against the base it will be applied to. */
export interface AnyLoadedAdapter {
  config: AnyConfig;
  plan: AnyPlan;
  /** The tensors (keys without "base_model.model."); the caller owns them. */
  params: Record<string, np.Array>;
  ignored: string[];
}

/** Read a PEFT adapter folder of any supported type, checked against base shapes. */
export async function loadAnyAdapter(
  dir: string,
  baseShapes: Record<string, number[]>,
): Promise<AnyLoadedAdapter> {
  const json = await readAdapterJson(dir);
  if (json.peft_type === undefined || json.peft_type === LORA_PEFT_TYPE)
    return loadAdapter(dir, baseShapes);
  const where = join(dir, ADAPTER_CONFIG_FILE);
  return loadTypedAdapter(dir, adapterType(json.peft_type, where), json, baseShapes);
}

/** Write a PEFT adapter folder of any type. Borrows the tensors. */
export async function saveAnyAdapter(
  dir: string,
  adapter: { config: AnyConfig; params: Record<string, np.Array> },
): Promise<void> {
  const { config, params } = adapter;
  if (isLoraConfig(config)) return saveAdapter(dir, { config, params });
  return saveTypedAdapter(dir, typeOfConfig(config), config, params);
}

/**
 * The `alpha` a `finetune` method takes when --alpha is not given: the type's own default (LoTR's
 * authors scale by 1/r, DSEE's and LaMDA's by 16/r), else LoRA's 8.
 */
export function defaultAlpha(method: string): number {
  const field = typeOfMethod(method)?.fields.find((f) => f.key === "alpha");
  return typeof field?.default === "number" ? field.default : 8;
}

/** The config a registered type's `finetune` method describes (one-line errors). */
export function typedConfigFromSettings(method: string, s: TypeSettings): TypedConfig {
  const type = typeOfMethod(method);
  if (type === undefined) throw new UsageError(`--adapter ${method} is not a registered type`);
  return typedConfig(type, { ...type.fromSettings(s), baseModelNameOrPath: s.baseModel });
}

/**
 * A new adapter of a registered type for `base` (borrowed); the caller owns `params`.
 * `gradients` (borrowed): the loss gradients at the base, for gradient-initialised types.
 */
export function createTypedAdapter(
  base: LlamaParams,
  config: TypedConfig,
  seed = 0,
  gradients?: Record<string, np.Array>,
): { config: TypedConfig; plan: TypedPlan; params: Record<string, np.Array> } {
  const shapes = Object.fromEntries(Object.entries(base).map(([k, v]) => [k, v.shape]));
  const plan = planTyped(typeOfConfig(config), config, shapes);
  return { config, plan, params: initTyped(plan, base, seed, gradients) };
}
