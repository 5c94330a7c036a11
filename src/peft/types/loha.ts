/**
 * LoHa (Hyeon-Woo et al. 2022, "FedPara: Low-Rank Hadamard Product for Communication-Efficient
 * Federated Learning"; LyCORIS), as PEFT's LoHa tuner (huggingface/peft
 * src/peft/tuners/loha/{config,layer}.py, read not copied).
 *
 * Rule: ΔW = ((w1a·w1b) ⊙ (w2a·w2b))·alpha/r with hada_w1_a, hada_w2_a [out, r] and
 * hada_w1_b, hada_w2_b [r, in] (PEFT's keys `<module>.hada_w1_a` ..., no ".weight"); the
 * Hadamard product of two rank-r matrices reaches rank r². W' = W + ΔW (PEFT's merge),
 * unmerge W' − ΔW. Init (init_weights true): w1_a, w1_b, w2_a kaiming_uniform(a=√5), w2_b = 0,
 * so ΔW = 0 at the start; false: all four kaiming_uniform. Config: LyCORIS's fields
 * (./lycoris-fields.ts), rank_pattern / alpha_pattern per module.
 *
 * Deviations: rank_dropout / module_dropout are not applied; use_effective_conv2d (Conv2d only)
 * is irrelevant for Linear layers; random draws from jax-js.
 */
import { numpy as np } from "@jax-js/jax";
import { splitKey } from "../lora.js";
import { boolField } from "./config.js";
import { kaimingUniform, zeros } from "./init-util.js";
import { LYCORIS_FIELDS, LYCORIS_LLAMA_TARGETS, type LycorisConfig } from "./lycoris-fields.js";
import type { AdapterType, TypedModule } from "./registry.js";

/** LoHa's config (PEFT's LoHaConfig). */
export interface LohaConfig extends LycorisConfig {
  initWeights: boolean;
}

/** One LoHa module with its scaling alpha/r. */
export interface LohaModule extends TypedModule {
  scaling: number;
}

const NAMES = ["hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"] as const;

/** LoHa (PEFT's LOHA): ΔW = (w1a·w1b) ⊙ (w2a·w2b) · alpha/r. */
export const LOHA: AdapterType<LohaConfig, LohaModule> = {
  peftType: "LOHA",
  title: "LoHa",
  methods: ["loha"],
  fields: [...LYCORIS_FIELDS, boolField("initWeights", true)],
  defaultTargets: LYCORIS_LLAMA_TARGETS,
  fromSettings: (s) => ({
    r: s.rank,
    alpha: s.alpha,
    targetModules: s.target ?? LYCORIS_LLAMA_TARGETS,
  }),
  module: (_c, m) => ({ ...m, scaling: m.alpha / m.r }),
  tensors(m) {
    const [out, inp] = m.shape;
    return {
      [`${m.name}.hada_w1_a`]: [out, m.r],
      [`${m.name}.hada_w1_b`]: [m.r, inp],
      [`${m.name}.hada_w2_a`]: [out, m.r],
      [`${m.name}.hada_w2_b`]: [m.r, inp],
    };
  },
  init(config, m, key) {
    const shapes = LOHA.tensors(m);
    const keys = splitKey(key, 4);
    const out: Record<string, np.Array> = {};
    NAMES.forEach((n, i) => {
      const k = `${m.name}.${n}`;
      const shape = shapes[k] as [number, number];
      if (n === "hada_w2_b" && config.initWeights) {
        keys[i].dispose();
        out[k] = zeros(shape);
      } else out[k] = kaimingUniform(keys[i], shape);
    });
    return out;
  },
  delta(get, m) {
    const p = (n: string) => get(`${m.name}.${n}`);
    const w1 = np.matmul(p("hada_w1_a"), p("hada_w1_b"));
    const w2 = np.matmul(p("hada_w2_a"), p("hada_w2_b"));
    return w1.mul(w2).mul(m.scaling);
  },
  inferShapes(tensors) {
    const shapes: Record<string, number[]> = {};
    for (const [key, shape] of tensors) {
      const m = /^(.*)\.hada_w1_a$/.exec(key);
      if (m) {
        const b = tensors.get(`${m[1]}.hada_w1_b`);
        if (b) shapes[`${m[1]}.weight`] = [shape[0], b[1]];
      } else if (!/\.hada_w[12]_[ab]$/.test(key)) shapes[key] = shape; // modules_to_save
    }
    return shapes;
  },
  describe: (c) => `r ${c.r}, alpha ${c.alpha}, init_weights ${c.initWeights}`,
};
