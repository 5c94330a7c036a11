/**
 * LoLDU (Shi et al. 2024, "LoLDU: Low-Rank Adaptation via Lower-Diag-Upper Decomposition for
 * Parameter-Efficient Fine-Tuning"), as the authors' LoLDUParametrization (SKDDJ/LoLDU
 * minloldu/loldu.py, read not copied). PEFT has no such type: the folder is PEFT-style with
 * peft_type "LOLDU".
 *
 * Rule: W = P·L·D·U (./ldu-host.ts); keep the leading r: L_r [out, r], D_r [r], U_r [r, in]. The
 * authors' layer is W' = W_res + s·P·L_r·diag(z)·U_r with W_res = W − s₀·P·L_r·diag(D_r)·U_r,
 * z = D_r and s = s₀ = lora_alpha/r at init, so W' = W at the start; z (and the scaling factor s,
 * an nn.Parameter in their code) train. Additive form: ΔW = P·L_r·diag(s·z − s₀·D_r)·U_r,
 * W' = W + ΔW. Keys `<module>.loldu_pl` = P·L_r [out, r] (P folded into L's rows instead of an
 * [out, out] P), `<module>.loldu_u` [r, in] and `<module>.loldu_d` (D_r) [r], all frozen and
 * stored (the folder is self-contained), `<module>.loldu_z` [r] and `<module>.loldu_scale` [1].
 * Config: r 8, lora_alpha 8.
 *
 * Deviations: only the "ldu" init with init_method "lu" (the paper's); the authors' demo
 * optimises z alone, Rankwise also trains s (the paper's diagonal-and-scale); lora_dropout is
 * not applied.
 */
import { numpy as np } from "@jax-js/jax";
import { fromHost, toHost } from "../../linalg/host.js";
import { intField, LAYER_FIELDS, numberField } from "./config.js";
import { leadingLdu } from "./ldu-host.js";
import type { AdapterType, TypedConfig, TypedModule } from "./registry.js";
import { checkRankFits, constant, freezeFactors, isFactor } from "./svd-init.js";

/** LoLDU's config. */
export interface LolduConfig extends TypedConfig {
  r: number;
  alpha: number;
}

/** One LoLDU module with its initial scaling s₀ = alpha/r. */
export interface LolduModule extends TypedModule {
  scaling: number;
}

const TARGETS = ["q_proj", "v_proj"];

export const LOLDU: AdapterType<LolduConfig, LolduModule> = {
  peftType: "LOLDU",
  title: "LoLDU",
  methods: ["loldu"],
  fields: [intField("r", 8), { ...numberField("alpha", 8), file: "lora_alpha" }, ...LAYER_FIELDS],
  defaultTargets: TARGETS,
  fromSettings: (s) => ({ r: s.rank, alpha: s.alpha, targetModules: s.target ?? TARGETS }),
  module(_c, m) {
    checkRankFits("LoLDU", m, m.r);
    return { ...m, scaling: m.alpha / m.r };
  },
  tensors: (m) => ({
    [`${m.name}.loldu_pl`]: [m.shape[0], m.r],
    [`${m.name}.loldu_u`]: [m.r, m.shape[1]],
    [`${m.name}.loldu_d`]: [m.r],
    [`${m.name}.loldu_z`]: [m.r],
    [`${m.name}.loldu_scale`]: [1],
  }),
  init(_c, m, key, weight) {
    key.dispose();
    const [out, inp] = m.shape;
    const { pl, d, u } = leadingLdu(toHost(weight.ref), out, inp, m.r);
    return {
      [`${m.name}.loldu_pl`]: fromHost(pl, [out, m.r], "float32"),
      [`${m.name}.loldu_u`]: fromHost(u, [m.r, inp], "float32"),
      [`${m.name}.loldu_d`]: fromHost(d, [m.r], "float32"),
      [`${m.name}.loldu_z`]: fromHost(d, [m.r], "float32"),
      [`${m.name}.loldu_scale`]: np.full([1], m.scaling, { dtype: np.float32 }),
    };
  },
  trainer: freezeFactors("loldu_pl", "loldu_u", "loldu_d"),
  frozen: isFactor("loldu_pl", "loldu_u", "loldu_d"),
  delta(get, m) {
    const p = (n: string) => `${m.name}.loldu_${n}`;
    const pl = constant(get, p("pl"));
    const u = constant(get, p("u"));
    const d0 = constant(get, p("d")).mul(m.scaling);
    const diag = get(p("z"))
      .mul(get(p("scale")))
      .sub(d0);
    return np.matmul(pl.mul(diag.reshape([1, m.r])), u);
  },
  inferShapes(tensors) {
    const shapes: Record<string, number[]> = {};
    for (const [key, shape] of tensors) {
      const hit = /^(.*)\.loldu_pl$/.exec(key);
      if (hit) {
        const u = tensors.get(`${hit[1]}.loldu_u`);
        if (u) shapes[`${hit[1]}.weight`] = [shape[0], u[1]];
      } else if (!/\.loldu_(u|d|z|scale)$/.test(key)) shapes[key] = shape;
    }
    return shapes;
  },
  describe: (c) =>
    `r ${c.r}, lora_alpha ${c.alpha}, target_modules ${JSON.stringify(c.targetModules)}`,
};
