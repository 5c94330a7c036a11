/**
 * The config fields PEFT's LycorisConfig gives LoHa and LoKr (huggingface/peft
 * src/peft/tuners/lycoris_utils.py and the two configs): r 8, alpha 8, rank_dropout 0,
 * module_dropout 0, use_effective_conv2d false, layers_to_transform / layers_pattern null,
 * rank_pattern / alpha_pattern {} (PEFT's get_pattern_key, as for LoRA), and the shared
 * per-module scaling alpha/r.
 *
 * Deviations: rank_dropout and module_dropout are stored but not applied (Rankwise's adapted
 * forward is deterministic, as for lora_dropout); use_effective_conv2d concerns Conv2d only.
 */
import { boolField, intField, LAYER_FIELDS, numberField, patternField } from "./config.js";
import type { FieldSpec, TypedConfig } from "./registry.js";

/** The LyCORIS fields of a config. */
export interface LycorisConfig extends TypedConfig {
  r: number;
  alpha: number;
  rankDropout: number;
  moduleDropout: number;
  useEffectiveConv2d: boolean;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
}

export const LYCORIS_FIELDS: FieldSpec[] = [
  intField("r", 8),
  numberField("alpha", 8),
  numberField("rankDropout", 0, 0, 1),
  numberField("moduleDropout", 0, 0, 1),
  boolField("useEffectiveConv2d", false),
  ...LAYER_FIELDS,
  patternField("rankPattern", true),
  patternField("alphaPattern", false),
];

/** PEFT's default targets for LLaMA, as for LoRA. */
export const LYCORIS_LLAMA_TARGETS = ["q_proj", "v_proj"];
