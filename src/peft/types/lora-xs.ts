/**
 * LoRA-XS (Bałazy et al. 2024, "LoRA-XS: Low-Rank Adaptation with Extremely Small Number of
 * Parameters"), as the authors' code (MohammadrezaBanaei/LoRA-XS utils/initialization_utils.py
 * and utils/latent_utils.py, read not copied). PEFT has no such type: the folder is PEFT-style
 * (adapter_model.safetensors + adapter_config.json) with peft_type "LORA_XS".
 *
 * Rule: truncated SVD of the base, W ≈ U_r Σ_r V_rᵀ (./svd-init.ts). The authors decompose Wᵀ
 * and put Σ on the encoder side: lora_A = Σ_r V_rᵀ [r, in] and lora_B = U_r [out, r], both
 * frozen; between them a trainable r×r `lora_latent_mapping` R (their nn.Linear(r, r), weight
 * drawn N(0, σ = 1e-5)): ΔW = (alpha/r)·U_r · R · Σ_r V_rᵀ, W' = W + ΔW. Keys
 * `<module>.lora_A.weight`, `<module>.lora_B.weight` (the frozen factors, stored so the folder
 * is self-contained) and `<module>.lora_latent_mapping.weight`. Config: r 8, lora_alpha 8
 * (PEFT's LoraConfig names, which the authors build on), init_std 1e-5.
 *
 * Deviations: only the "svd_on_w" init with retain_part "top" (the paper's); lora_dropout is
 * not applied; singular signs as ./svd-init.ts.
 */
import { numpy as np, random } from "@jax-js/jax";
import { intField, LAYER_FIELDS, numberField } from "./config.js";
import type { AdapterType, TypedConfig, TypedModule } from "./registry.js";
import { checkRankFits, constant, freezeFactors, isFactor, leadingSvd } from "./svd-init.js";

/** LoRA-XS's config. */
export interface LoraXsConfig extends TypedConfig {
  r: number;
  alpha: number;
  initStd: number;
}

/** One LoRA-XS module with its scaling alpha/r. */
export interface LoraXsModule extends TypedModule {
  scaling: number;
}

const TARGETS = ["q_proj", "v_proj"];

export const LORA_XS: AdapterType<LoraXsConfig, LoraXsModule> = {
  peftType: "LORA_XS",
  title: "LoRA-XS",
  methods: ["lora-xs"],
  fields: [
    intField("r", 8),
    { ...numberField("alpha", 8), file: "lora_alpha" },
    numberField("initStd", 1e-5, 0),
    ...LAYER_FIELDS,
  ],
  defaultTargets: TARGETS,
  fromSettings: (s) => ({ r: s.rank, alpha: s.alpha, targetModules: s.target ?? TARGETS }),
  module(_c, m) {
    checkRankFits("LoRA-XS", m, m.r);
    return { ...m, scaling: m.alpha / m.r };
  },
  tensors: (m) => ({
    [`${m.name}.lora_A.weight`]: [m.r, m.shape[1]],
    [`${m.name}.lora_B.weight`]: [m.shape[0], m.r],
    [`${m.name}.lora_latent_mapping.weight`]: [m.r, m.r],
  }),
  init(c, m, key, weight) {
    const { u, s, vt } = leadingSvd(weight, m.r);
    return {
      [`${m.name}.lora_A.weight`]: vt.mul(s.reshape([m.r, 1])),
      [`${m.name}.lora_B.weight`]: u,
      [`${m.name}.lora_latent_mapping.weight`]: random.normal(key, [m.r, m.r]).mul(c.initStd),
    };
  },
  trainer: freezeFactors("lora_A.weight", "lora_B.weight"),
  frozen: isFactor("lora_A.weight", "lora_B.weight"),
  delta(get, m) {
    const a = constant(get, `${m.name}.lora_A.weight`);
    const b = constant(get, `${m.name}.lora_B.weight`);
    const r = get(`${m.name}.lora_latent_mapping.weight`);
    return np.matmul(np.matmul(b, r), a).mul(m.scaling);
  },
  inferShapes(tensors) {
    const shapes: Record<string, number[]> = {};
    for (const [key, shape] of tensors) {
      const hit = /^(.*)\.lora_A\.weight$/.exec(key);
      if (hit) {
        const b = tensors.get(`${hit[1]}.lora_B.weight`);
        if (b) shapes[`${hit[1]}.weight`] = [b[0], shape[1]];
      } else if (!/\.lora_(B|latent_mapping)\.weight$/.test(key)) shapes[key] = shape;
    }
    return shapes;
  },
  describe: (c) =>
    `r ${c.r}, lora_alpha ${c.alpha}, init_std ${c.initStd}, target_modules ${JSON.stringify(c.targetModules)}`,
};
