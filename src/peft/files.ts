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
 * written atomically (weights first), as model folders are. The checks and the bytes (no file
 * access, for pages) are in adapter-bytes.ts, re-exported here.
 *
 * Deviation: PEFT's save_embedding_layers="auto" also saves the whole base embedding when the
 * embedding is targeted; Rankwise writes only the adapter (PEFT loads such a folder unchanged).
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { numpy as np } from "@jax-js/jax";
import { UsageError } from "../engine/errors.js";
import { writeFileAtomic } from "../io/atomic.js";
import { loadSafetensors, SafetensorsError, saveSafetensors } from "../io/safetensors.js";
import {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  type Adapter,
  adapterFromTensors,
  type LoadedAdapter,
  peftTensors,
} from "./adapter-bytes.js";
import { configFromPeftJson, configToPeftText, type LoraConfig } from "./config.js";
import { planAdapter } from "./match.js";

export {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  type Adapter,
  type LoadedAdapter,
  PEFT_PREFIX,
  shapesOf,
} from "./adapter-bytes.js";

/** Write `dir/adapter_config.json` and `dir/adapter_model.safetensors`. Borrows the tensors. */
export async function saveAdapter(dir: string, adapter: Adapter): Promise<void> {
  const tensors = peftTensors(adapter);
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
  return adapterFromTensors({ config, ignored }, plan, tensors, baseShapes, dir);
}
