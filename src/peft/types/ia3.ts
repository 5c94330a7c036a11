/**
 * IA³ (Liu et al. 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than
 * In-Context Learning"), as PEFT's IA3 tuner (huggingface/peft src/peft/tuners/ia3/{config,
 * layer,model}.py, read not copied).
 *
 * Rule: a learned vector l per targeted Linear rescales activations. For a module listed in
 * feedforward_modules (list: the name ends with an entry — PEFT's `endswith`, no dot needed;
 * string: a regex matched in full) it scales the input, y = W(x ⊙ l), l = ia3_l [1, in]; for the
 * others the output, y = (Wx) ⊙ l, l = ia3_l [out, 1]. Both are W' = W ⊙ l (columns or rows),
 * which is PEFT's merge; unmerge is W'/(l + 1e-8), as PEFT's. Init (init_ia3_weights true): l = 1,
 * so the adapted model starts as the base; false draws l ~ N(0, 1) (torch.randn, PEFT leaves
 * the tensor as created).
 * Config: target_modules, feedforward_modules (must be a subset of target_modules when both are
 * lists), exclude_modules, modules_to_save, fan_in_fan_out, init_ia3_weights; PEFT's LLaMA
 * defaults target ["k_proj", "v_proj", "down_proj"] and feedforward ["down_proj"] (used when
 * unset). The update depends on W: ΔW = W ⊙ l − W, so conversion needs the base (--model).
 *
 * Deviations: fan_in_fan_out is accepted and ignored (every LLaMA projection is an nn.Linear,
 * where PEFT resets it to false); `finetune --rank/--alpha` do not apply (IA³ has no rank).
 */
import { numpy as np, random } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import { boolField, modulesField } from "./config.js";
import type { AdapterType, TypedConfig, TypedModule } from "./registry.js";

/** IA³'s config (PEFT's IA3Config). */
export interface Ia3Config extends TypedConfig {
  feedforwardModules: string[] | string | null;
  fanInFanOut: boolean;
  initIa3Weights: boolean;
}

/** One IA³ module: whether it scales its input (feedforward) or its output. */
export interface Ia3Module extends TypedModule {
  feedforward: boolean;
}

/** PEFT's TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING for LLaMA. */
export const IA3_LLAMA_FEEDFORWARD = ["down_proj"];

/** Whether PEFT treats module `name` as feed-forward. */
export function isFeedforward(config: Ia3Config, name: string): boolean {
  const ff = config.feedforwardModules ?? IA3_LLAMA_FEEDFORWARD;
  return typeof ff === "string"
    ? new RegExp(`^(?:${ff})$`).test(name)
    : ff.some((k) => name.endsWith(k));
}

/** IA³ (PEFT's IA3): learned vectors scaling a layer's input (feed-forward modules) or output. */
export const IA3: AdapterType<Ia3Config, Ia3Module> = {
  peftType: "IA3",
  title: "IA³",
  methods: ["ia3"],
  fields: [
    modulesField("feedforwardModules"),
    boolField("fanInFanOut", false),
    boolField("initIa3Weights", true),
  ],
  validate(c) {
    const t = c.targetModules;
    const ff = c.feedforwardModules;
    if (Array.isArray(t) && Array.isArray(ff) && !ff.every((f) => t.includes(f)))
      throw new UsageError(
        `adapter config: feedforward_modules ${JSON.stringify(ff)} must be a subset of target_modules ${JSON.stringify(t)}`,
      );
  },
  defaultTargets: ["k_proj", "v_proj", "down_proj"],
  fromSettings(s) {
    const target = s.target ?? ["k_proj", "v_proj", "down_proj"];
    // Written out, as PEFT's prepared config is; kept a subset of a target list so PEFT reloads it.
    const ff = Array.isArray(target)
      ? IA3_LLAMA_FEEDFORWARD.filter((f) => target.includes(f))
      : IA3_LLAMA_FEEDFORWARD;
    return { targetModules: target, feedforwardModules: ff };
  },
  module: (config, m) => ({ ...m, feedforward: isFeedforward(config, m.name) }),
  tensors: (m) => ({ [`${m.name}.ia3_l`]: m.feedforward ? [1, m.shape[1]] : [m.shape[0], 1] }),
  init(config, m, key) {
    const [shape] = Object.values(IA3.tensors(m));
    if (config.initIa3Weights) {
      key.dispose();
      return { [`${m.name}.ia3_l`]: np.ones(shape, { dtype: np.float32 }) };
    }
    return { [`${m.name}.ia3_l`]: random.normal(key, shape) };
  },
  weight: (w, get, m) => w.mul(get(`${m.name}.ia3_l`)),
  unweight: (merged, get, m) => merged.div(get(`${m.name}.ia3_l`).add(1e-8)),
  describe: (c) =>
    `feedforward_modules ${JSON.stringify(c.feedforwardModules ?? IA3_LLAMA_FEEDFORWARD)}, init_ia3_weights ${c.initIa3Weights}`,
};
