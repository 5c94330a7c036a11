/**
 * LoTR (Bershatsky et al. 2024, "LoTR: Low Tensor Rank Weight Adaptation"), as the authors'
 * code (daskol/lotr lotr/lotr.py, read not copied). No PEFT type: Rankwise writes a PEFT-style
 * folder whose adapter_config.json says peft_type "LOTR".
 *
 * Rule: the modules of one kind (the same last name, e.g. every layer's q_proj) share a left
 * factor `base_model.lotr_lhs.<kind>` [r, out] and a right factor `base_model.lotr_rhs.<kind>`
 * [in, r]; each module has its own core `lotr_mid` [r, r]. The layer adds
 * scale/r · x·rhs·mid·lhs (the authors store the factors transposed for batched x), so
 * ΔW_l = (alpha/r) · lhsᵀ · mid_lᵀ · rhsᵀ — a Tucker-2 representation of the stacked ΔW_l with
 * the layer mode uncompressed. W' = W + ΔW. Init (the code's): lhs, rhs ~ N(0, 1), mid = 0, so
 * ΔW = 0; all three train (shared factors receive the sum of their modules' gradients).
 * Config: r (8), alpha (the code's `scale`, 1 → scaling alpha/r), target_modules (PEFT's LLaMA
 * default q_proj, v_proj), layers_to_transform / layers_pattern.
 *
 * Deviations: the authors' example shares one container between query and value of equal
 * shapes; Rankwise shares per module kind (the paper's "sequence of layers" of one kind), so
 * modules of different shapes never share. rank_pattern is not supported (the shared factors
 * fix one r). Draws come from jax-js.
 */
import { numpy as np, random } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import { splitKey } from "../lora.js";
import { intField, LAYER_FIELDS, numberField } from "./config.js";
import { zeros } from "./init-util.js";
import type { AdapterType, TypedConfig, TypedModule } from "./registry.js";

/** LoTR's config. */
export interface LotrConfig extends TypedConfig {
  r: number;
  alpha: number;
}

/** One LoTR module: the kind whose factors it shares, and its scaling. */
export interface LotrModule extends TypedModule {
  group: string;
  scaling: number;
}

const kindOf = (name: string) => name.slice(name.lastIndexOf(".") + 1);
const lhsKey = (kind: string) => `base_model.lotr_lhs.${kind}`;
const rhsKey = (kind: string) => `base_model.lotr_rhs.${kind}`;

/** The kinds of the modules and their [out, in], checked equal within a kind. */
function kinds(modules: LotrModule[]): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (const m of modules) {
    const s = out.get(m.group);
    if (s && (s[0] !== m.shape[0] || s[1] !== m.shape[1]))
      throw new UsageError(
        `LoTR shares factors across every ${m.group}: ${m.name} is [${m.shape}], another is [${s}]; target modules of one shape per kind`,
      );
    out.set(m.group, m.shape);
  }
  return out;
}

export const LOTR: AdapterType<LotrConfig, LotrModule> = {
  peftType: "LOTR",
  title: "LoTR",
  methods: ["lotr"],
  fields: [intField("r", 8), numberField("alpha", 1), ...LAYER_FIELDS],
  defaultTargets: ["q_proj", "v_proj"],
  fromSettings: (s) => ({
    r: s.rank,
    alpha: s.alpha,
    targetModules: s.target ?? ["q_proj", "v_proj"],
  }),
  module: (c, m) => ({ ...m, r: c.r, group: kindOf(m.name), scaling: c.alpha / c.r }),
  tensors: (m) => ({ [`${m.name}.lotr_mid`]: [m.r, m.r] }),
  shared(c, modules) {
    const t: Record<string, number[]> = {};
    for (const [kind, [out, inp]] of kinds(modules)) {
      t[lhsKey(kind)] = [c.r, out];
      t[rhsKey(kind)] = [inp, c.r];
    }
    return t;
  },
  init(_c, m, key) {
    key.dispose();
    return { [`${m.name}.lotr_mid`]: zeros([m.r, m.r]) };
  },
  initShared(c, modules, key) {
    const ks = kinds(modules);
    const keys = splitKey(key, 2 * ks.size);
    const t: Record<string, np.Array> = {};
    [...ks].forEach(([kind, [out, inp]], i) => {
      t[lhsKey(kind)] = random.normal(keys[2 * i], [c.r, out]);
      t[rhsKey(kind)] = random.normal(keys[2 * i + 1], [inp, c.r]);
    });
    return t;
  },
  delta(get, m) {
    // (rhs·mid·lhs)ᵀ: [in, r]·[r, r]·[r, out] → [in, out], transposed.
    const t = np.matmul(
      np.matmul(get(rhsKey(m.group)), get(`${m.name}.lotr_mid`)),
      get(lhsKey(m.group)),
    );
    return t.transpose().mul(m.scaling);
  },
  inferShapes(tensors) {
    const shapes: Record<string, number[]> = {};
    for (const [key, shape] of tensors) {
      const mod = /^(.*)\.lotr_mid$/.exec(key);
      if (mod) {
        const kind = kindOf(mod[1]);
        const lhs = tensors.get(lhsKey(kind));
        const rhs = tensors.get(rhsKey(kind));
        if (lhs && rhs) shapes[`${mod[1]}.weight`] = [lhs[1], rhs[0]];
      } else if (!key.startsWith("base_model.lotr_")) shapes[key] = shape;
    }
    return shapes;
  },
  describe: (c) => `r ${c.r}, alpha ${c.alpha}, factors shared per module kind`,
};
