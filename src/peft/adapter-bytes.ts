/**
 * PEFT adapter files as bytes, without file access (pages use it: src/browser.ts; files.ts adds
 * the folders and re-exports this): `adapter_config.json` + `adapter_model.safetensors`, key for
 * key as PEFT's `save_pretrained` writes them (the key layout and the reading rules are in
 * files.ts's header). Reading checks every tensor against the base model's shapes with one-line
 * UsageErrors naming the module.
 */
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../engine/errors.js";
import { decodeSafetensors, encodeSafetensorsAsync } from "../io/safetensors-bytes.js";
import { configFromPeftJson, configToPeftText, type LoraConfig } from "./config.js";
import type { AdapterParams } from "./effective.js";
import { type AdapterPlan, adapterShapes, planAdapter } from "./match.js";

/** The adapter configuration file of a PEFT folder. */
export const ADAPTER_CONFIG_FILE = "adapter_config.json";
/** The adapter weights file of a PEFT folder. */
export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";
/** PEFT's prefix of every key of a causal LM adapter. */
export const PEFT_PREFIX = "base_model.model.";

/** An adapter in memory: its config and tensors (keys without PEFT's prefix). */
export interface Adapter {
  config: LoraConfig;
  params: AdapterParams;
}

/** A loaded adapter, resolved against the base model it will be applied to. */
export interface LoadedAdapter extends Adapter {
  plan: AdapterPlan;
  /** Config keys Rankwise does not know (PEFT drops unknown keys with a warning too). */
  ignored: string[];
}

/** Shapes of a parameter record (borrows nothing: reads `.shape` only). */
export const shapesOf = (params: Record<string, np.Array>): Record<string, number[]> =>
  Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.shape]));

/** The adapter's tensors under PEFT's keys (borrowed, not copied), float32 checked. */
export function peftTensors(adapter: Adapter): Record<string, np.Array> {
  const tensors: Record<string, np.Array> = {};
  for (const key of Object.keys(adapter.params).sort()) {
    const a = adapter.params[key];
    if (a.dtype !== np.float32)
      throw new TypeError(`adapter tensor ${key} is ${a.dtype}; adapters are float32`);
    tensors[PEFT_PREFIX + key] = a;
  }
  return tensors;
}

/** The two files of a PEFT adapter folder as bytes. Borrows the tensors. */
export async function encodeAdapter(adapter: Adapter): Promise<Record<string, Uint8Array>> {
  return {
    [ADAPTER_CONFIG_FILE]: new TextEncoder().encode(configToPeftText(adapter.config)),
    [ADAPTER_WEIGHTS_FILE]: await encodeSafetensorsAsync(peftTensors(adapter), { format: "pt" }),
  };
}

/** The module a tensor key belongs to (its key without the adapter suffix). */
const moduleOfKey = (key: string) =>
  key.replace(
    /\.(lora_A\.weight|lora_B\.weight|lora_B\.bias|lora_magnitude_vector|lora_embedding_A|lora_embedding_B)$/,
    "",
  );

/**
 * Resolve a PEFT adapter's tensors (file keys, consumed) against the base model's parameter
 * shapes and the config's plan (`planAdapter`); `where` names the source in messages. Float16/bfloat16 tensors become float32.
 */
export function adapterFromTensors(
  parsed: { config: LoraConfig; ignored: string[] },
  plan: AdapterPlan,
  tensors: Record<string, np.Array>,
  baseShapes: Record<string, number[]>,
  where: string,
): LoadedAdapter {
  const { config, ignored } = parsed;
  const dir = where;
  const params: AdapterParams = {};
  const fail = (message: string): never => {
    for (const a of Object.values(tensors)) a.dispose();
    throw new UsageError(`${dir}: ${message}`);
  };
  for (const [fileKey, a] of Object.entries(tensors)) {
    if (!fileKey.startsWith(PEFT_PREFIX))
      fail(
        `tensor ${fileKey} does not start with "${PEFT_PREFIX}" (not a PEFT LoRA adapter for a causal LM)`,
      );
    let key = fileKey.slice(PEFT_PREFIX.length);
    if (key.endsWith(".base_layer.weight")) continue; // PEFT's saved copy of a targeted embedding
    if (key.endsWith(".lora_magnitude_vector.weight")) key = key.slice(0, -".weight".length);
    params[key] = a;
  }
  const expected = adapterShapes(plan, baseShapes);
  for (const [key, shape] of Object.entries(expected)) {
    const a = params[key];
    const module = moduleOfKey(key).replace(/\.weight$/, "");
    if (a === undefined)
      fail(`no tensor ${PEFT_PREFIX}${key} for module ${module}, which the config targets`);
    if (a.shape.length !== shape.length || a.shape.some((s, i) => s !== shape[i])) {
      fail(
        `${PEFT_PREFIX}${key} has shape [${a.shape}], but module ${module} of the base model needs [${shape}]`,
      );
    }
  }
  for (const key of Object.keys(params)) {
    if (!(key in expected)) {
      const module = moduleOfKey(key).replace(/\.weight$/, "");
      fail(
        key.endsWith(".lora_B.bias")
          ? `${PEFT_PREFIX}${key}: lora_bias is not supported`
          : `${PEFT_PREFIX}${key} belongs to module ${module}, which the base model lacks or the config does not target`,
      );
    }
  }
  // Unused tensors (the skipped base_layer copies) are freed; float16/bfloat16 become float32.
  for (const [fileKey, a] of Object.entries(tensors)) {
    const key = fileKey.slice(PEFT_PREFIX.length);
    if (key.endsWith(".base_layer.weight")) a.dispose();
  }
  const out: AdapterParams = {};
  for (const key of Object.keys(expected)) {
    const a = params[key];
    out[key] = a.dtype === np.float32 ? a : a.astype(np.float32);
  }
  return { config, params: out, plan, ignored };
}

/**
 * A PEFT adapter from its two files' bytes (as a page gets them from a download or a picked
 * folder), checked against the base model's parameter shapes. The caller owns the tensors.
 */
export function decodeAdapter(
  files: Record<string, Uint8Array>,
  baseShapes: Record<string, number[]>,
  where = "adapter",
): LoadedAdapter {
  const configBytes = files[ADAPTER_CONFIG_FILE];
  const weights = files[ADAPTER_WEIGHTS_FILE];
  if (configBytes === undefined || weights === undefined)
    throw new UsageError(`${where} needs ${ADAPTER_CONFIG_FILE} and ${ADAPTER_WEIGHTS_FILE}`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(configBytes));
  } catch (err) {
    throw new UsageError(
      `${where}/${ADAPTER_CONFIG_FILE} is not valid JSON: ${(err as Error).message}`,
    );
  }
  const parsed = configFromPeftJson(json, `${where}/${ADAPTER_CONFIG_FILE}`);
  const plan = planAdapter(parsed.config, baseShapes); // before any tensor exists to free
  let tensors: Record<string, np.Array>;
  try {
    tensors = decodeSafetensors(weights).tensors;
  } catch (err) {
    throw new UsageError(`${where}/${ADAPTER_WEIGHTS_FILE}: ${(err as Error).message}`);
  }
  return adapterFromTensors(parsed, plan, tensors, baseShapes, where);
}
