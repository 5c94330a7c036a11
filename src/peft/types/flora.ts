/**
 * FLoRA for linear layers (Si et al. 2024, "FLoRA: Low-Rank Core Space for N-dimension"), as
 * the authors' code (SJTU-DeepVisionLab/FLoRA flora/layers.py, read not copied). No PEFT type:
 * Rankwise writes a PEFT-style folder whose adapter_config.json says peft_type "FLORA".
 *
 * Rule: the N-mode Tucker form ΔW = scale · G ×₁ P₀ ×₂ P₁ ⋯ with one factor per mode of the
 * weight; a Linear has two modes (in, out), so per module a core `flora_param_G` [r, r] and
 * factors `flora_param_0` [in, r], `flora_param_1` [out, r]:
 * ΔW[o, i] = scale · Σ_ab G[a, b] P₀[i, a] P₁[o, b], i.e. ΔW = scale · P₁ Gᵀ P₀ᵀ (the code's
 * tensordot chain, transposed to [out, in]). W' = W + ΔW. Init (the code's init_parameters):
 * P₀, P₁ kaiming_normal_(a = √3), i.e. N(0, 1/(2r)) (fan_in = r, the columns), G = 0, so ΔW = 0.
 * Config: r (8, both modes), scale (4, the authors' example), flora_dropout (stored),
 * target_modules (PEFT's LLaMA default q_proj, v_proj), layers_to_transform / layers_pattern.
 *
 * Deviations: Linear layers only (Conv/embedding forms have more modes); one r for both modes;
 * dropout is not applied (the adapted forward is deterministic); draws come from jax-js.
 */
import { numpy as np, random } from "@jax-js/jax";
import { splitKey } from "../lora.js";
import { intField, LAYER_FIELDS, numberField } from "./config.js";
import { zeros } from "./init-util.js";
import type { AdapterType, TypedConfig, TypedModule } from "./registry.js";

/** FLoRA's config. */
export interface FloraConfig extends TypedConfig {
  r: number;
  scale: number;
  floraDropout: number;
}

/** One FLoRA module (r and scale per module). */
export interface FloraModule extends TypedModule {
  scale: number;
}

const TARGETS = ["q_proj", "v_proj"];

export const FLORA: AdapterType<FloraConfig, FloraModule> = {
  peftType: "FLORA",
  title: "FLoRA",
  methods: ["flora"],
  fields: [
    intField("r", 8),
    numberField("scale", 4),
    numberField("floraDropout", 0, 0, 1),
    ...LAYER_FIELDS,
  ],
  defaultTargets: TARGETS,
  fromSettings: (s) => ({ r: s.rank, targetModules: s.target ?? TARGETS }),
  module: (c, m) => ({ ...m, scale: c.scale }),
  tensors: (m) => ({
    [`${m.name}.flora_param_G`]: [m.r, m.r],
    [`${m.name}.flora_param_0`]: [m.shape[1], m.r],
    [`${m.name}.flora_param_1`]: [m.shape[0], m.r],
  }),
  init(_c, m, key) {
    const [k0, k1] = splitKey(key, 2);
    const std = 1 / Math.sqrt(2 * m.r); // kaiming_normal_(a=√3): gain √(2/4), fan_in r
    return {
      [`${m.name}.flora_param_G`]: zeros([m.r, m.r]),
      [`${m.name}.flora_param_0`]: random.normal(k0, [m.shape[1], m.r]).mul(std),
      [`${m.name}.flora_param_1`]: random.normal(k1, [m.shape[0], m.r]).mul(std),
    };
  },
  delta(get, m) {
    const p = (n: string) => get(`${m.name}.flora_param_${n}`);
    return np.matmul(np.matmul(p("1"), p("G").transpose()), p("0").transpose()).mul(m.scale);
  },
  inferShapes(tensors) {
    const shapes: Record<string, number[]> = {};
    for (const [key, shape] of tensors) {
      const mod = /^(.*)\.flora_param_G$/.exec(key);
      if (mod) {
        const p0 = tensors.get(`${mod[1]}.flora_param_0`);
        const p1 = tensors.get(`${mod[1]}.flora_param_1`);
        if (p0 && p1) shapes[`${mod[1]}.weight`] = [p1[0], p0[0]];
      } else if (!/\.flora_param_[01]$/.test(key)) shapes[key] = shape;
    }
    return shapes;
  },
  describe: (c) => `r ${c.r}, scale ${c.scale}`,
};
