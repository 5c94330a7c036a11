/**
 * SALT (Elsayed et al. 2025, "SALT: Singular Value Adaptation with Low-Rank Transformation"), as
 * the authors' SALTLinear (BioMedIA-MBZUAI/SALT prompt_adapted_segment_anything/modeling/SALT.py,
 * read not copied). PEFT has no such type: the folder is PEFT-style with peft_type "SALT".
 *
 * Rule: full thin SVD W = U diag(s) Vᵀ, k = min(out, in) (./svd-init.ts). The top r singular
 * values are scaled and shifted, s_i' = a_i·s_i + b_i (a = 1, b = 0 at init); the remaining
 * k − r get a rank-r_lora update inside the singular basis, diag(s_tail) + X·Y with
 * X [k−r, r_lora], Y [r_lora, k−r] drawn N(0, 0.01²); the authors' ReLU then acts on every entry
 * of the k×k core S' (so negative off-diagonal entries of X·Y are cut to 0), and
 * W' = U·relu(S')·Vᵀ. Stored as the additive form ΔW = U·(relu(S') − diag(s))·Vᵀ (W' = W + ΔW,
 * equal to the authors' W' up to W's float32 SVD reconstruction error). Keys `<module>.salt_u`
 * [out, k], `<module>.salt_s` [k], `<module>.salt_vt` [k, in] (frozen, stored: the folder is
 * self-contained), `<module>.salt_scale` [r], `<module>.salt_shift` [r], `<module>.salt_x`,
 * `<module>.salt_y`. Config: r (the top rank), r_lora 8.
 *
 * Deviations: the authors' regularizer (‖ΔS_top‖ + ‖X·Y‖, weighted by reg_multiplier, 0 in
 * their SALT_config.yml) is not applied; draws come from jax-js, not torch.manual_seed(42);
 * r < k is required (the authors' tail would be empty). Because X·Y ≠ 0 at init (as the
 * authors'), W' differs slightly from W before training.
 */
import { numpy as np, random } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import { splitKey } from "../lora.js";
import { intField, LAYER_FIELDS } from "./config.js";
import type { AdapterType, TypedConfig, TypedModule } from "./registry.js";
import { constant, freezeFactors, isFactor, leadingSvd } from "./svd-init.js";

/** SALT's config. */
export interface SaltConfig extends TypedConfig {
  r: number;
  rLora: number;
}

/** One SALT module: k = min(out, in) singular values, r of them scaled and shifted. */
export interface SaltModule extends TypedModule {
  k: number;
  rLora: number;
}

const TARGETS = ["q_proj", "v_proj"];

/** diag(v) for a 1-D v of length n, as eye·v (traced: no host work). */
const diagOf = (v: np.Array, n: number) =>
  np.eye(n, undefined, { dtype: np.float32 }).mul(v.reshape([1, n]));

export const SALT: AdapterType<SaltConfig, SaltModule> = {
  peftType: "SALT",
  title: "SALT",
  methods: ["salt"],
  fields: [intField("r", 8), intField("rLora", 8), ...LAYER_FIELDS],
  defaultTargets: TARGETS,
  fromSettings: (s) => ({ r: s.rank, targetModules: s.target ?? TARGETS }),
  module(c, m) {
    const k = Math.min(m.shape[0], m.shape[1]);
    if (m.r >= k)
      throw new UsageError(
        `SALT: rank ${m.r} leaves no remaining singular values in ${m.name} (shape ${m.shape.join("×")}); accepted: 1..${k - 1}`,
      );
    return { ...m, k, rLora: c.rLora };
  },
  tensors(m) {
    const t = m.k - m.r;
    return {
      [`${m.name}.salt_u`]: [m.shape[0], m.k],
      [`${m.name}.salt_s`]: [m.k],
      [`${m.name}.salt_vt`]: [m.k, m.shape[1]],
      [`${m.name}.salt_scale`]: [m.r],
      [`${m.name}.salt_shift`]: [m.r],
      [`${m.name}.salt_x`]: [t, m.rLora],
      [`${m.name}.salt_y`]: [m.rLora, t],
    };
  },
  init(_c, m, key, weight) {
    const t = m.k - m.r;
    const [kx, ky] = splitKey(key, 2);
    const { u, s, vt } = leadingSvd(weight, m.k);
    return {
      [`${m.name}.salt_u`]: u,
      [`${m.name}.salt_s`]: s,
      [`${m.name}.salt_vt`]: vt,
      [`${m.name}.salt_scale`]: np.ones([m.r], { dtype: np.float32 }),
      [`${m.name}.salt_shift`]: np.zeros([m.r], { dtype: np.float32 }),
      [`${m.name}.salt_x`]: random.normal(kx, [t, m.rLora]).mul(0.01),
      [`${m.name}.salt_y`]: random.normal(ky, [m.rLora, t]).mul(0.01),
    };
  },
  trainer: freezeFactors("salt_u", "salt_s", "salt_vt"),
  frozen: isFactor("salt_u", "salt_s", "salt_vt"),
  delta(get, m) {
    const { r, k } = m;
    const t = k - r;
    const p = (n: string) => `${m.name}.salt_${n}`;
    const u = constant(get, p("u"));
    const s = constant(get, p("s"));
    const vt = constant(get, p("vt"));
    // Top block: diag(relu(a·s + b) − s); tail block: relu(diag(s) + X·Y) − diag(s).
    const sTop = s.ref.slice([0, r]);
    const top = np
      .maximum(
        get(p("scale"))
          .mul(sTop.ref)
          .add(get(p("shift"))),
        0,
      )
      .sub(sTop);
    const sTail = diagOf(s.slice([r, k]), t);
    const tail = np.maximum(sTail.ref.add(np.matmul(get(p("x")), get(p("y")))), 0).sub(sTail);
    const topPart = np.matmul(
      u.ref.slice([], [0, r]).mul(top.reshape([1, r])),
      vt.ref.slice([0, r]),
    );
    const tailPart = np.matmul(np.matmul(u.slice([], [r, k]), tail), vt.slice([r, k]));
    return topPart.add(tailPart);
  },
  inferShapes(tensors) {
    const shapes: Record<string, number[]> = {};
    for (const [key, shape] of tensors) {
      const hit = /^(.*)\.salt_u$/.exec(key);
      if (hit) {
        const vt = tensors.get(`${hit[1]}.salt_vt`);
        if (vt) shapes[`${hit[1]}.weight`] = [shape[0], vt[1]];
      } else if (!/\.salt_(s|vt|scale|shift|x|y)$/.test(key)) shapes[key] = shape;
    }
    return shapes;
  },
  describe: (c) => `r ${c.r}, r_lora ${c.rLora}, target_modules ${JSON.stringify(c.targetModules)}`,
};
