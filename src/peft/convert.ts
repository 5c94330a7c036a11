/**
 * Saving an adapter whose initialisation changed the base (PiSSA, OLoRA, LoRA-GA) as plain LoRA
 * over the original base: PEFT's `save_pretrained(path_initial_model_for_weight_conversion=...)`
 * and LoraModel.subtract_mutated_init (huggingface/peft src/peft/peft_model.py,
 * src/peft/tuners/lora/model.py).
 *
 * Rule: W = W_res + s·B₀·A₀ and the trained model is W_res + s·B·A, so ΔW = s·(B·A − B₀·A₀) =
 * s·[B | −B₀]·[A ; A₀]: A' = cat([A, A₀], 0), B' = cat([B, −B₀], 1), r' = 2r and α' = 2α
 * (rsLoRA: α·√2), so that s' = s; rank_pattern values doubled, alpha_pattern values too
 * (rsLoRA: ·√2); init_lora_weights becomes true.
 *
 * Deviations: modules without initial factors (an embedding adapter, which PiSSA/OLoRA leave at
 * the default init) are padded with zeros to rank 2r, so their ΔW is kept (PEFT drops their
 * tensors); rsLoRA with rank/alpha patterns is converted (alpha_pattern ·√2 keeps every
 * module's scaling) where PEFT refuses the combination; DoRA adapters are refused (ΔW is not a plain low-rank difference then).
 */
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../engine/errors.js";
import { type LoraConfig, loraConfig } from "./config.js";
import type { AdapterParams } from "./effective.js";
import type { Adapter } from "./files.js";
import { type AdapterPlan, adapterKeys } from "./match.js";

const times = (p: Record<string, number>, f: number) =>
  Object.fromEntries(Object.entries(p).map(([k, v]) => [k, f * v]));

/** The config of the converted adapter. */
export function convertedConfig(config: LoraConfig): LoraConfig {
  return loraConfig({
    ...config,
    r: 2 * config.r,
    loraAlpha: config.useRslora ? config.loraAlpha * Math.SQRT2 : 2 * config.loraAlpha,
    rankPattern: times(config.rankPattern, 2),
    alphaPattern: times(config.alphaPattern, config.useRslora ? Math.SQRT2 : 2),
    initLoraWeights: true,
    loraGaConfig: null,
    evaConfig: null,
  });
}

/**
 * The plain-LoRA adapter (rank 2r) equal to `trained` over the original base. Borrows
 * `trained.params` and `initial`; the result's tensors are new.
 */
export function convertToLora(
  trained: Adapter,
  initial: AdapterParams,
  plan: AdapterPlan,
): Adapter {
  if (trained.config.useDora) {
    throw new UsageError(
      "a DoRA adapter cannot be converted to plain LoRA (its update is not B·A − B₀·A₀)",
    );
  }
  const params: AdapterParams = {};
  for (const m of plan.modules) {
    const k = adapterKeys(m);
    const a = trained.params[k.a];
    const b = trained.params[k.b];
    const a0 = initial[k.a];
    const b0 = initial[k.b];
    if (a0 === undefined || b0 === undefined) {
      params[k.a] = np.concatenate([a.ref, np.zerosLike(a.ref)], 0);
      params[k.b] = np.concatenate([b.ref, np.zerosLike(b.ref)], 1);
    } else {
      params[k.a] = np.concatenate([a.ref, a0.ref], 0);
      params[k.b] = np.concatenate([b.ref, b0.ref.neg()], 1);
    }
  }
  for (const s of plan.saved) params[s] = trained.params[s].ref;
  return { config: convertedConfig(trained.config), params };
}
