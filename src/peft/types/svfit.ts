/**
 * SVFit (Sun et al. 2024, "SVFit: Parameter-Efficient Fine-Tuning of Large Pre-Trained Models
 * Using Singular Values"), from the paper (no code of the authors is published). PEFT has no
 * such type: the folder is PEFT-style with peft_type "SVFIT".
 *
 * Rule: W = U diag(σ) Vᵀ (./svd-init.ts); the top-r singular values become trainable and scale
 * their fixed singular pairs: W' = U_r diag(σ_r + δ) V_rᵀ + (W − U_r diag(σ_r) V_rᵀ), i.e.
 * ΔW = U_r diag(δ) V_rᵀ with δ [r] trainable, initialised to 0 (W' = W at the start). Keys
 * `<module>.svfit_u` [out, r] and `<module>.svfit_vt` [r, in] (frozen, stored so the folder is
 * self-contained), `<module>.svfit_sigma` [r] (σ_r, frozen, for inspection) and
 * `<module>.svfit_delta` [r]. Config: r 8.
 *
 * Deviations: the paper trains σ_r itself; Rankwise trains δ = σ_r' − σ_r (the same model; only
 * weight decay, which pulls δ rather than σ toward 0, differs). The paper picks r to capture
 * 99% of the spectrum's energy; here r is given (finetune --rank).
 */
import { numpy as np } from "@jax-js/jax";
import { intField, LAYER_FIELDS } from "./config.js";
import { zeros } from "./init-util.js";
import type { AdapterType, TypedConfig, TypedModule } from "./registry.js";
import { checkRankFits, constant, freezeFactors, isFactor, leadingSvd } from "./svd-init.js";

/** SVFit's config. */
export interface SvfitConfig extends TypedConfig {
  r: number;
}

const TARGETS = ["q_proj", "v_proj"];

export const SVFIT: AdapterType<SvfitConfig, TypedModule> = {
  peftType: "SVFIT",
  title: "SVFit",
  methods: ["svfit"],
  fields: [intField("r", 8), ...LAYER_FIELDS],
  defaultTargets: TARGETS,
  fromSettings: (s) => ({ r: s.rank, targetModules: s.target ?? TARGETS }),
  module(_c, m) {
    checkRankFits("SVFit", m, m.r);
    return m;
  },
  tensors: (m) => ({
    [`${m.name}.svfit_u`]: [m.shape[0], m.r],
    [`${m.name}.svfit_vt`]: [m.r, m.shape[1]],
    [`${m.name}.svfit_sigma`]: [m.r],
    [`${m.name}.svfit_delta`]: [m.r],
  }),
  init(_c, m, key, weight) {
    key.dispose();
    const { u, s, vt } = leadingSvd(weight, m.r);
    return {
      [`${m.name}.svfit_u`]: u,
      [`${m.name}.svfit_vt`]: vt,
      [`${m.name}.svfit_sigma`]: s,
      [`${m.name}.svfit_delta`]: zeros([m.r]),
    };
  },
  trainer: freezeFactors("svfit_u", "svfit_vt", "svfit_sigma"),
  frozen: isFactor("svfit_u", "svfit_vt", "svfit_sigma"),
  delta(get, m) {
    const u = constant(get, `${m.name}.svfit_u`);
    const vt = constant(get, `${m.name}.svfit_vt`);
    const d = get(`${m.name}.svfit_delta`).reshape([1, m.r]);
    return np.matmul(u.mul(d), vt);
  },
  inferShapes(tensors) {
    const shapes: Record<string, number[]> = {};
    for (const [key, shape] of tensors) {
      const hit = /^(.*)\.svfit_u$/.exec(key);
      if (hit) {
        const vt = tensors.get(`${hit[1]}.svfit_vt`);
        if (vt) shapes[`${hit[1]}.weight`] = [shape[0], vt[1]];
      } else if (!/\.svfit_(vt|sigma|delta)$/.test(key)) shapes[key] = shape;
    }
    return shapes;
  },
  describe: (c) => `r ${c.r}, target_modules ${JSON.stringify(c.targetModules)}`,
};
