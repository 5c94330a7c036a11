/**
 * PEFT adapter folders both ways: `adapter_config.json` + `adapter_model.safetensors`, key for key
 * as PEFT's `save_pretrained` writes them (huggingface/peft src/peft/peft_model.py,
 * src/peft/utils/save_and_load.py get_peft_model_state_dict; facts in
 * ../shared/reference/peft-mergekit-pruning.md §1):
 *
 *   base_model.model.<module>.lora_A.weight [r, in]     base_model.model.<module>.lora_B.weight [out, r]
 *   base_model.model.<module>.lora_magnitude_vector [out]  (DoRA; no ".weight", PEFT strips it)
 *   base_model.model.<module>.lora_embedding_A [r, vocab]  base_model.model.<module>.lora_embedding_B [dim, r]
 *   base_model.model.<module to save>.weight            (modules_to_save: the module's own keys)
 *
 * no adapter name in any key, metadata {"format": "pt"}, float32 tensors. Reading accepts F32,
 * F16 and BF16 (converted to float32), tolerates unknown config keys (returned in `ignored`), and
 * ignores the base embedding PEFT adds when an embedding is targeted
 * (`<module>.base_layer.weight`). The old DoRA key `lora_magnitude_vector.weight` is read too.
 * Every mismatch with the base model (a module it lacks, a missing tensor, a wrong shape, a
 * tensor for no targeted module) is a one-line UsageError naming the module. Both files are
 * written atomically (weights first), as model folders are.
 *
 * Deviation: PEFT's save_embedding_layers="auto" also saves the whole base embedding when the
 * embedding is targeted; Rankwise writes only the adapter (PEFT loads such a folder unchanged).
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../engine/errors.js";
import { writeFileAtomic } from "../io/atomic.js";
import { loadSafetensors, SafetensorsError, saveSafetensors } from "../io/safetensors.js";
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

/** Write `dir/adapter_config.json` and `dir/adapter_model.safetensors`. Borrows the tensors. */
export async function saveAdapter(dir: string, adapter: Adapter): Promise<void> {
  const tensors: Record<string, np.Array> = {};
  for (const key of Object.keys(adapter.params).sort()) {
    const a = adapter.params[key];
    if (a.dtype !== np.float32)
      throw new TypeError(`adapter tensor ${key} is ${a.dtype}; adapters are float32`);
    tensors[PEFT_PREFIX + key] = a;
  }
  await mkdir(dir, { recursive: true });
  await saveSafetensors(join(dir, ADAPTER_WEIGHTS_FILE), tensors, { format: "pt" });
  await writeFileAtomic(join(dir, ADAPTER_CONFIG_FILE), configToPeftText(adapter.config));
}

/** The parsed `dir/adapter_config.json`, any JSON value (one-line errors). */
export async function readAdapterConfigJson(dir: string): Promise<unknown> {
  const path = join(dir, ADAPTER_CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === "ENOENT"
        ? `${dir} is not a PEFT adapter folder (no ${ADAPTER_CONFIG_FILE})`
        : `cannot read ${path}: ${(err as Error).message}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
}

/** The tensors of `dir/adapter_model.safetensors` (one-line errors). The caller owns them. */
export async function readAdapterTensors(dir: string): Promise<Record<string, np.Array>> {
  try {
    return (await loadSafetensors(join(dir, ADAPTER_WEIGHTS_FILE))).tensors;
  } catch (err) {
    if (err instanceof SafetensorsError) {
      const missing = /ENOENT|no such file/.test(err.message);
      throw new UsageError(
        missing
          ? `${dir} has no ${ADAPTER_WEIGHTS_FILE} (only safetensors adapters are read)`
          : err.message,
      );
    }
    throw err;
  }
}

async function readConfig(dir: string): Promise<{ config: LoraConfig; ignored: string[] }> {
  return configFromPeftJson(await readAdapterConfigJson(dir), join(dir, ADAPTER_CONFIG_FILE));
}

/** The module a tensor key belongs to (its key without the adapter suffix). */
const moduleOfKey = (key: string) =>
  key.replace(
    /\.(lora_A\.weight|lora_B\.weight|lora_B\.bias|lora_magnitude_vector|lora_embedding_A|lora_embedding_B)$/,
    "",
  );

/**
 * Read a PEFT adapter folder and check it against the base model's parameter shapes (HF names →
 * shape, e.g. `llamaParamShapes(config)` or `shapesOf(params)`). The caller owns the tensors.
 */
export async function loadAdapter(
  dir: string,
  baseShapes: Record<string, number[]>,
): Promise<LoadedAdapter> {
  const { config, ignored } = await readConfig(dir);
  const plan = planAdapter(config, baseShapes);
  const tensors = await readAdapterTensors(dir);
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
