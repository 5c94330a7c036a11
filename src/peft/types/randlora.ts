/**
 * RandLoRA (Albert et al. 2025, "RandLoRA: Full-rank parameter-efficient fine-tuning of large
 * models"), as PEFT's RANDLORA tuner (huggingface/peft src/peft/tuners/randlora/{config,layer,
 * model}.py, read not copied).
 *
 * Rule: frozen random bases shared by all modules, `base_model.randlora_A` [r, 1, min_d] and
 * `base_model.randlora_B` [max_d, n_d, r] (max_d/min_d the larger/smaller of the largest out and
 * in over the targeted modules, n_d = ⌈min_d/r⌉), and per module (out, in; lo = min(out, in),
 * hi = max(out, in), n = ⌈lo/r⌉ bases, so that n·r ≥ lo: full rank) trainable
 * `randlora_lambda` Λ [r, n] and `randlora_gamma` Γ [n, lo]:
 *   Â[k, b, j] = Λ[k, b]·A[k, 0, j]·Γ[b, j], flattened to [r·n, lo] (row k·n + b),
 *   B̂ = B[:hi, :n, :] flattened to [hi, n·r] (column b·r + k),
 *   ΔW = s·B̂Â if in ≤ out, else s·(B̂Â)ᵀ; s = randlora_alpha / r. W' = W + ΔW.
 * (PEFT pairs the flattened axes in these two different orders; kept as is.)
 * Init (init_weights true): Λ = 0 (ΔW = 0), Γ = 1/max(n, lo) (PEFT's reset); false: Λ ~ N(0, 1),
 * Γ = 1/max(out, in). Bases: kaiming_uniform(a=√5) divided by the tensor's standard deviation
 * (any uniform scale gives the same); sparse: entries −1, 0, 1 with P(±1) = 1/(2s) each, s = 3,
 * or s = √min_d with very_sparse, divided by their standard deviation.
 * Config: r 32, randlora_alpha 640, projection_prng_key 0, save_projection true, sparse,
 * very_sparse, randlora_dropout 0, fan_in_fan_out, bias "none", init_weights,
 * layers_to_transform / layers_pattern; LLaMA's default targets q_proj, v_proj.
 *
 * Deviations: see ./projection-fields.ts (bases drawn by jax-js, kept fixed by a stopped
 * gradient and the freezing trainer, save_projection false refused); PEFT draws the dense bases
 * in bfloat16 where available, here float32; randlora_dropout is stored, not applied;
 * fan_in_fan_out is ignored (nn.Linear).
 * A module's shape cannot be read from the folder alone: converting needs --model.
 */
import { numpy as np, random } from "@jax-js/jax";
import { splitKey } from "../lora.js";
import { boolField, intField, LAYER_FIELDS, numberField } from "./config.js";
import {
  biasField,
  checkSaveProjection,
  frozen,
  largestShape,
  PROJECTION_FIELDS,
  projectionTrainer,
} from "./projection-fields.js";
import type { AdapterType, TypedConfig, TypedModule } from "./registry.js";

/** RandLoRA's config (PEFT's RandLoraConfig). */
export interface RandLoraConfig extends TypedConfig {
  r: number;
  projectionPrngKey: number;
  saveProjection: boolean;
  sparse: boolean;
  verySparse: boolean;
  randloraDropout: number;
  fanInFanOut: boolean;
  randloraAlpha: number;
  bias: string;
  initWeights: boolean;
}

/** One RandLoRA module: its number of bases, smaller/larger dimension and scaling. */
export interface RandLoraModule extends TypedModule {
  bases: number;
  lo: number;
  hi: number;
  scaling: number;
}

const numBases = (lo: number, r: number) => Math.ceil(lo / r);

/** The shared bases' dimensions: [max_d, min_d, n_d]. */
function sharedDims(r: number, modules: TypedModule[]): [number, number, number] {
  const [out, inp] = largestShape(modules);
  const lo = Math.min(out, inp);
  return [Math.max(out, inp), lo, numBases(lo, r)];
}

/** x / std(x) (torch's unbiased std over all entries). Consumes `x`. */
function unitStd(x: np.Array): np.Array {
  const n = x.size;
  const centred = x.ref.sub(x.ref.mean());
  const std = np.sqrt(
    centred.ref
      .mul(centred)
      .sum()
      .div(n - 1),
  );
  return x.div(std);
}

/** A random basis of `shape`, dense or sparse as configured. Consumes `key`. */
function basis(c: RandLoraConfig, lo: number, key: np.Array, shape: number[]): np.Array {
  const u = random.uniform(key, shape);
  if (!c.sparse && !c.verySparse) return unitStd(u.mul(2).sub(1));
  const s = c.verySparse ? Math.sqrt(lo) : 3;
  const p = 1 / (2 * s);
  const signs = np
    .where(u.ref.less(p), -1, 0)
    .add(np.where(u.greater(1 - p), 1, 0))
    .astype(np.float32);
  return unitStd(signs);
}

/** RandLoRA (PEFT's RANDLORA): frozen shared random bases, trainable Λ and Γ per module. */
export const RANDLORA: AdapterType<RandLoraConfig, RandLoraModule> = {
  peftType: "RANDLORA",
  title: "RandLoRA",
  methods: ["randlora"],
  fields: [
    intField("r", 32),
    ...PROJECTION_FIELDS,
    boolField("sparse", false),
    boolField("verySparse", false),
    numberField("randloraDropout", 0, 0, 1),
    boolField("fanInFanOut", false),
    numberField("randloraAlpha", 640),
    biasField("randlora_only"),
    boolField("initWeights", true),
    ...LAYER_FIELDS,
  ],
  validate: (c) => checkSaveProjection("RandLoRA", c.saveProjection),
  defaultTargets: ["q_proj", "v_proj"],
  fromSettings: (s) => ({
    r: s.rank,
    randloraAlpha: s.alpha,
    targetModules: s.target ?? ["q_proj", "v_proj"],
  }),
  module(c, m) {
    const lo = Math.min(...m.shape);
    return {
      ...m,
      lo,
      hi: Math.max(...m.shape),
      bases: numBases(lo, m.r),
      scaling: c.randloraAlpha / m.r,
    };
  },
  tensors: (m) => ({
    [`${m.name}.randlora_lambda`]: [m.r, m.bases],
    [`${m.name}.randlora_gamma`]: [m.bases, m.lo],
  }),
  shared(c, modules) {
    const [hi, lo, n] = sharedDims(c.r, modules);
    return { "base_model.randlora_A": [c.r, 1, lo], "base_model.randlora_B": [hi, n, c.r] };
  },
  init(c, m, key) {
    const l = `${m.name}.randlora_lambda`;
    const g = `${m.name}.randlora_gamma`;
    const gamma = (v: number) => np.full([m.bases, m.lo], v, { dtype: np.float32 });
    if (c.initWeights) {
      key.dispose();
      return {
        [l]: np.zeros([m.r, m.bases], { dtype: np.float32 }),
        [g]: gamma(1 / Math.max(m.bases, m.lo)),
      };
    }
    return { [l]: random.normal(key, [m.r, m.bases]), [g]: gamma(1 / m.hi) };
  },
  initShared(c, modules, key) {
    const [hi, lo, n] = sharedDims(c.r, modules);
    const [ka, kb] = splitKey(key, 2);
    return {
      "base_model.randlora_A": basis(c, lo, ka, [c.r, 1, lo]),
      "base_model.randlora_B": basis(c, lo, kb, [hi, n, c.r]),
    };
  },
  delta(get, m) {
    const { r, bases: n, lo, hi } = m;
    const a = frozen(get, "randlora_A").slice([], [], [0, lo]); // [r, 1, lo]
    const b = frozen(get, "randlora_B").slice([0, hi], [0, n]); // [hi, n, r]
    const lambda = get(`${m.name}.randlora_lambda`).reshape([r, n, 1]);
    const gamma = get(`${m.name}.randlora_gamma`).reshape([1, n, lo]);
    const aHat = lambda
      .mul(a)
      .mul(gamma)
      .reshape([r * n, lo]);
    const d = np.matmul(b.reshape([hi, n * r]), aHat).mul(m.scaling); // [hi, lo]
    return m.shape[1] <= m.shape[0] ? d : d.transpose();
  },
  trainer: () => projectionTrainer("randlora_A", "randlora_B"),
  frozen: (key) => key === "base_model.randlora_A" || key === "base_model.randlora_B",
  omitFields: ["excludeModules"],
  describe: (c) =>
    `r ${c.r}, randlora_alpha ${c.randloraAlpha}, sparse ${c.sparse}, very_sparse ${c.verySparse}, projection_prng_key ${c.projectionPrngKey}, target_modules ${JSON.stringify(c.targetModules)}, init_weights ${c.initWeights}`,
};
