/**
 * VeRA (Kopiczko et al. 2024, "VeRA: Vector-based Random Matrix Adaptation"), as PEFT's VERA tuner
 * (huggingface/peft src/peft/tuners/vera/{config,layer,model}.py, read not copied).
 *
 * Rule: one pair of frozen random projections for the whole model, `base_model.vera_A`
 * [r, max_in] and `base_model.vera_B` [max_out, r] (max over the targeted modules), and per
 * module two trainable vectors `vera_lambda_b` [out] and `vera_lambda_d` [r]:
 * ΔW = (λ_b ⊙ B[:out, :]) (λ_d ⊙ A[:, :in]) (rows scaled), no alpha scaling. W' = W + ΔW.
 * Init (init_weights true): λ_b = 0, λ_d = d_initial (0.1), so ΔW = 0; false: λ_b = 1,
 * λ_d ~ N(0, 1). The projections: kaiming_uniform with gain √2, U(−√(6/fan_in), √(6/fan_in)),
 * fan_in = columns (PEFT's _kaiming_init). Config: r 256, projection_prng_key 0,
 * save_projection true, vera_dropout 0, d_initial 0.1, fan_in_fan_out, bias "none",
 * init_weights, layers_to_transform / layers_pattern; LLaMA's default targets q_proj, v_proj.
 *
 * Deviations: see ./projection-fields.ts (projections drawn by jax-js, kept fixed by a stopped
 * gradient and the freezing trainer, save_projection false refused); vera_dropout is stored,
 * not applied (the adapted forward is deterministic); fan_in_fan_out is ignored (LLaMA's
 * projections are nn.Linear). A module's `in` cannot be read from the folder (A is sliced), so
 * converting needs the base model (--model).
 */
import { numpy as np, random } from "@jax-js/jax";
import { splitKey } from "../lora.js";
import { boolField, intField, LAYER_FIELDS, numberField } from "./config.js";
import { zeros } from "./init-util.js";
import {
  biasField,
  checkSaveProjection,
  frozen,
  largestShape,
  PROJECTION_FIELDS,
  projectionTrainer,
} from "./projection-fields.js";
import type { AdapterType, TypedConfig, TypedModule } from "./registry.js";

/** VeRA's config (PEFT's VeraConfig). */
export interface VeraConfig extends TypedConfig {
  r: number;
  projectionPrngKey: number;
  saveProjection: boolean;
  veraDropout: number;
  dInitial: number;
  fanInFanOut: boolean;
  bias: string;
  initWeights: boolean;
}

/** PEFT's _kaiming_init: U(−√(6/fan_in), √(6/fan_in)), fan_in = columns. Consumes `key`. */
function kaimingGain2(key: np.Array, shape: [number, number]): np.Array {
  const bound = Math.sqrt(6 / shape[1]);
  return random.uniform(key, shape, { minval: -bound, maxval: bound });
}

/** VeRA (PEFT's VERA): frozen shared projections, trainable λ_b and λ_d per module. */
export const VERA: AdapterType<VeraConfig, TypedModule> = {
  peftType: "VERA",
  title: "VeRA",
  methods: ["vera"],
  fields: [
    intField("r", 256),
    ...PROJECTION_FIELDS,
    numberField("veraDropout", 0, 0, 1),
    numberField("dInitial", 0.1),
    boolField("fanInFanOut", false),
    biasField("vera_only"),
    boolField("initWeights", true),
    ...LAYER_FIELDS,
  ],
  validate: (c) => checkSaveProjection("VeRA", c.saveProjection),
  defaultTargets: ["q_proj", "v_proj"],
  fromSettings: (s) => ({ r: s.rank, targetModules: s.target ?? ["q_proj", "v_proj"] }),
  module: (_c, m) => m,
  tensors: (m) => ({
    [`${m.name}.vera_lambda_b`]: [m.shape[0]],
    [`${m.name}.vera_lambda_d`]: [m.r],
  }),
  shared(c, modules) {
    const [out, inp] = largestShape(modules);
    return { "base_model.vera_A": [c.r, inp], "base_model.vera_B": [out, c.r] };
  },
  init(c, m, key) {
    const b = `${m.name}.vera_lambda_b`;
    const d = `${m.name}.vera_lambda_d`;
    if (c.initWeights) {
      key.dispose();
      return { [b]: zeros([m.shape[0]]), [d]: np.full([m.r], c.dInitial, { dtype: np.float32 }) };
    }
    return { [b]: np.ones([m.shape[0]], { dtype: np.float32 }), [d]: random.normal(key, [m.r]) };
  },
  initShared(c, modules, key) {
    const [out, inp] = largestShape(modules);
    const [ka, kb] = splitKey(key, 2);
    return {
      "base_model.vera_A": kaimingGain2(ka, [c.r, inp]),
      "base_model.vera_B": kaimingGain2(kb, [out, c.r]),
    };
  },
  delta(get, m) {
    const [out, inp] = m.shape;
    const a = frozen(get, "vera_A").slice([], [0, inp]);
    const b = frozen(get, "vera_B").slice([0, out]);
    const lb = get(`${m.name}.vera_lambda_b`).reshape([out, 1]);
    const ld = get(`${m.name}.vera_lambda_d`).reshape([m.r, 1]);
    return np.matmul(b.mul(lb), a.mul(ld));
  },
  trainer: () => projectionTrainer("vera_A", "vera_B"),
  frozen: (key) => key === "base_model.vera_A" || key === "base_model.vera_B",
  omitFields: ["excludeModules"],
  describe: (c) =>
    `r ${c.r}, d_initial ${c.dInitial}, projection_prng_key ${c.projectionPrngKey}, target_modules ${JSON.stringify(c.targetModules)}, init_weights ${c.initWeights}`,
};
