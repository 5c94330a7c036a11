/**
 * LoRA-SB (Ponkshe et al. 2025, "Initialization using Update Approximation is a Silver Bullet
 * for Extremely Efficient Low-Rank Fine-Tuning"), as the authors' code (RaghavSinghal10/lora-sb
 * utils/gradient_utils.py estimate_and_process_grads_torch, utils/initialization_utils.py
 * find_and_initialize_grad, utils/svd_utils.py; read not copied). PEFT has no such type: the
 * folder is PEFT-style with peft_type "LORA_SB".
 *
 * Rule: LoRA-XS's architecture (./lora-xs.ts: frozen lora_B [out, r] and lora_A [r, in], a
 * trainable r×r lora_latent_mapping R, ΔW = (alpha/r)·B·R·A), initialised so that ΔW
 * approximates full fine-tuning's first update: with G the training loss's gradient at W,
 * ΔW₀ = −η·sign(G) (Adam's first step), and its rank-r SVD ΔW₀ ≈ U_r diag(s_r) V_rᵀ gives
 * B = U_r, A = V_rᵀ, R = diag(s_r). The adapted model starts at W + (alpha/r)·U_r diag(s_r) V_rᵀ
 * (the authors do not subtract it from W). `finetune --adapter lora-sb` estimates G over 4
 * batches drawn with seed + 1 (as for LoRA-GA). Config: r 8, lora_alpha 8, init_lr η 1e-3.
 *
 * Deviations: the authors take η = lr / warmup steps of their run (lr/(warmup_ratio·steps)) and
 * sum the gradient over 170 samples; here η is the config's init_lr and G the mean over
 * finetune's 4 batches (sign(G) is the same for a sum or a mean). The SVD is exact (theirs
 * torch.svd_lowrank with niter 10, cast to bfloat16); singular signs as ./svd-init.ts.
 */
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import { svd } from "../../linalg/svd.js";
import { intField, LAYER_FIELDS, numberField } from "./config.js";
import { LORA_XS, type LoraXsModule } from "./lora-xs.js";
import type { AdapterType, TypedConfig } from "./registry.js";
import { checkRankFits } from "./svd-init.js";

/** LoRA-SB's config. */
export interface LoraSbConfig extends TypedConfig {
  r: number;
  alpha: number;
  initLr: number;
}

export const LORA_SB: AdapterType<LoraSbConfig, LoraXsModule> = {
  ...(LORA_XS as unknown as AdapterType<LoraSbConfig, LoraXsModule>),
  peftType: "LORA_SB",
  title: "LoRA-SB",
  methods: ["lora-sb"],
  fields: [
    intField("r", 8),
    { ...numberField("alpha", 8), file: "lora_alpha" },
    {
      ...numberField("initLr", 1e-3, 0),
      ok: (v) => typeof v === "number" && v > 0 && Number.isFinite(v),
      accepted: "a number > 0",
    },
    ...LAYER_FIELDS,
  ],
  gradientInit: true,
  module(_c, m) {
    checkRankFits("LoRA-SB", m, m.r);
    return { ...m, scaling: m.alpha / m.r };
  },
  init(c, m, key, _weight, gradient) {
    key.dispose();
    if (gradient === undefined)
      throw new UsageError(
        "LoRA-SB's initialisation needs the loss gradient at the base: create it with finetune --adapter lora-sb",
      );
    // ΔW₀ = −η·sign(G); its rank-r SVD.
    const { u, s, vt } = svd(np.sign(gradient.ref).mul(-c.initLr));
    const r = m.r;
    const sr = s.slice([0, r]);
    const eye = np.eye(r, undefined, { dtype: np.float32 });
    return {
      [`${m.name}.lora_A.weight`]: vt.slice([0, r]),
      [`${m.name}.lora_B.weight`]: u.slice([], [0, r]),
      [`${m.name}.lora_latent_mapping.weight`]: eye.mul(sr.reshape([1, r])),
    };
  },
  describe: (c) =>
    `r ${c.r}, lora_alpha ${c.alpha}, init_lr ${c.initLr}, target_modules ${JSON.stringify(c.targetModules)}`,
};
