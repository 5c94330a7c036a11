/**
 * AdaLoRA (Zhang et al. 2023, "AdaLoRA: Adaptive Budget Allocation for Parameter-Efficient
 * Fine-Tuning"), as PEFT's ADALORA tuner (huggingface/peft src/peft/tuners/adalora/{config,layer,
 * model}.py, read not copied). The rank allocator is ./adalora-allocator.ts.
 *
 * Rule: per module an SVD-shaped triplet P = `lora_B` [out, r], Λ = `lora_E` [r, 1],
 * Q = `lora_A` [r, in] (PEFT's ParameterDict keys: no ".weight"), ΔW = P·(Q ⊙ Λ)·s/(ranknum + 1e−5)
 * with s = lora_alpha (r when lora_alpha ≤ 0) and ranknum = init_r (PEFT keeps the initial rank as
 * ranknum even after pruning: resize_modules_by_rank_pattern copies it). W' = W + ΔW. Init
 * (init_lora_weights true): Λ = 0, P, Q ~ N(0, 0.02²); false: all N(0, 1) (torch.randn).
 * Orthogonality loss (AdaLoraModel.forward): orth_reg_weight · mean over every lora_A and lora_B of
 * ‖QQᵀ − I‖_F resp. ‖PᵀP − I‖_F (the Frobenius norm, not squared), added to the training loss.
 * Files: rank_pattern (null until the allocator first masks) maps `<module>.lora_E` to a boolean
 * list over the init_r triplets; saved tensors are sliced to the kept ones, and a folder with a
 * rank_pattern is read with r = the kept count per module (PEFT's resize_*_by_rank_pattern).
 * `finetune --adapter adalora`: --rank is target_r, init_r = round(1.5·target_r) (PEFT's default
 * 8 → 12), --alpha is lora_alpha; total_step defaults to the run's --steps.
 *
 * Deviations: lora_dropout is stored, not applied (deterministic forward); fan_in_fan_out is
 * ignored (LLaMA's projections are nn.Linear); the orthogonality loss is in the training loss only,
 * not in the validation loss (PEFT adds it to any forward that has a loss), so validation losses
 * compare across adapter types. Random draws come from jax-js.
 * Config file: AdaLoraConfig extends LoraConfig, so besides its own fields it carries LoRA's as
 * Rankwise's LoRA writes them (alpha_pattern, use_dora, use_rslora, lora_bias, loftq_config,
 * eva_config, lora_ga_config). alpha_pattern is stored, not applied (PEFT's AdaLoRA ignores it
 * too); the others, and LoraConfig's other options (layer_replication, use_qalora, ...: read, not
 * written), are accepted only at their defaults: a non-default value is a one-line error, not
 * silently ignored (PEFT itself refuses use_dora and loftq_config).
 */
import { numpy as np, random } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import { splitKey } from "../lora.js";
import { adaloraExported, adaloraTrainer } from "./adalora-allocator.js";
import { boolField, intField, LAYER_FIELDS, numberField, patternField } from "./config.js";
import { zeros } from "./init-util.js";
import type { AdapterType, FieldSpec, TensorGetter, TypedConfig, TypedModule } from "./registry.js";

/** rank_pattern as PEFT saves it: `<module>.lora_E` → which of the init_r triplets are kept. */
export type RankMask = Record<string, boolean[]>;

/** AdaLoRA's config (PEFT's AdaLoraConfig; rank_pattern holds the boolean masks of kept ranks). */
export interface AdaloraConfig extends TypedConfig {
  r: number;
  loraAlpha: number;
  loraDropout: number;
  fanInFanOut: boolean;
  bias: string;
  initLoraWeights: boolean;
  targetR: number;
  initR: number;
  tinit: number;
  tfinal: number;
  deltaT: number;
  beta1: number;
  beta2: number;
  orthRegWeight: number;
  totalStep: number | null;
}

/** One AdaLoRA module: its kept rank `r`, PEFT's ranknum (init_r) and scaling. */
export interface AdaloraModule extends TypedModule {
  ranknum: number;
  scaling: number;
}

/** The config's rank_pattern (TypedConfig types rank_pattern as LoRA's numbers; AdaLoRA's are masks). */
export const rankMask = (c: TypedConfig): RankMask | null =>
  ((c as unknown as { rankPattern?: RankMask | null }).rankPattern ?? null) as RankMask | null;

const LLAMA_TARGETS = ["q_proj", "v_proj"];

const rankPatternField: FieldSpec = {
  key: "rankPattern",
  default: null,
  ok: (v) =>
    v === null ||
    (typeof v === "object" &&
      !Array.isArray(v) &&
      Object.values(v as object).every(
        (x) => Array.isArray(x) && x.every((b) => typeof b === "boolean"),
      )),
  accepted: "null or an object of <module>.lora_E → list of booleans",
};

const open01 = (key: string, def: number): FieldSpec => ({
  key,
  default: def,
  ok: (v) => typeof v === "number" && v > 0 && v < 1,
  accepted: "a number in (0, 1)",
});

/** Whether `v` is `def` (false, null, or an empty object). */
const isDefault = (v: unknown, def: unknown) =>
  v === def ||
  (typeof def === "object" &&
    def !== null &&
    typeof v === "object" &&
    v !== null &&
    !Array.isArray(v) &&
    Object.keys(v).length === 0);

/** A LoraConfig option AdaLoRA inherits and Rankwise does not implement: its default only. */
const inherited = (key: string, def: unknown, why: string, readOnly = false): FieldSpec => ({
  key,
  default: def,
  ok: (v) => isDefault(v, def),
  accepted: `only ${JSON.stringify(def)}: ${why}`,
  ...(readOnly ? { readOnly } : {}),
});

const NOT_FOR_ADALORA = "not implemented for AdaLoRA";

/** LoraConfig's fields in an AdaLoRA file (see the header). */
const LORA_FIELDS: FieldSpec[] = [
  patternField("alphaPattern", false),
  inherited("useDora", false, "AdaLoRA has no DoRA, PEFT refuses it too"),
  inherited("useRslora", false, "rsLoRA scaling is not implemented for AdaLoRA"),
  inherited("loftqConfig", {}, "LoftQ is not implemented for AdaLoRA, PEFT refuses it too"),
  inherited("loraBias", false, NOT_FOR_ADALORA),
  inherited("evaConfig", null, "EVA initialisation is for LoRA only"),
  inherited("loraGaConfig", null, "LoRA-GA initialisation is for LoRA only"),
  ...[
    "layerReplication",
    "targetParameters",
    "trainableTokenIndices",
    "megatronConfig",
    "cordaConfig",
    "aloraInvocationTokens",
    "arrowConfig",
  ].map((k) => inherited(k, null, NOT_FOR_ADALORA, true)),
  inherited("useQalora", false, NOT_FOR_ADALORA, true),
];

/** A module's key of Λ (the rank_pattern key). */
export const eKey = (module: string) => `${module}.lora_E`;

/** AdaLoRA (PEFT's ADALORA): P·Λ·Q triplets with the orthogonality loss and the rank allocator. */
export const ADALORA: AdapterType<AdaloraConfig, AdaloraModule> = {
  peftType: "ADALORA",
  title: "AdaLoRA",
  methods: ["adalora"],
  fields: [
    intField("r", 8),
    numberField("loraAlpha", 8),
    numberField("loraDropout", 0, 0, 1),
    boolField("fanInFanOut", false),
    {
      key: "bias",
      default: "none",
      ok: (v) => v === "none",
      accepted: '"none" (bias training is not supported)',
    },
    boolField("initLoraWeights", true),
    ...LAYER_FIELDS,
    intField("targetR", 8),
    intField("initR", 12),
    intField("tinit", 0, 0),
    intField("tfinal", 0, 0),
    { ...intField("deltaT", 1), file: "deltaT" } as FieldSpec,
    open01("beta1", 0.85),
    open01("beta2", 0.85),
    {
      ...numberField("orthRegWeight", 0.5),
      ok: (v) => typeof v === "number" && v > 0 && Number.isFinite(v),
      accepted: "a number > 0",
    },
    {
      key: "totalStep",
      default: null,
      ok: (v) => v === null || (Number.isInteger(v) && (v as number) > 0),
      accepted: "a positive integer or null",
    },
    rankPatternField,
    ...LORA_FIELDS,
  ],
  validate(c) {
    if (c.targetR > c.initR)
      throw new UsageError(
        `adapter config: target_r ${c.targetR} is above init_r ${c.initR} (the allocator only prunes)`,
      );
    for (const [k, mask] of Object.entries(rankMask(c) ?? {}))
      if (mask.length !== c.initR)
        throw new UsageError(
          `adapter config: rank_pattern ${k} has ${mask.length} entries; init_r is ${c.initR}`,
        );
  },
  defaultTargets: LLAMA_TARGETS,
  fromSettings: (s) => ({
    loraAlpha: s.alpha,
    targetR: s.rank,
    initR: Math.max(s.rank, Math.round(1.5 * s.rank)),
    targetModules: s.target ?? LLAMA_TARGETS,
  }),
  module(c, m) {
    const mask = rankMask(c)?.[eKey(m.name)];
    return {
      ...m,
      r: mask ? mask.filter(Boolean).length : c.initR,
      alpha: c.loraAlpha,
      ranknum: c.initR,
      scaling: c.loraAlpha > 0 ? c.loraAlpha : c.initR,
    };
  },
  tensors: (m) => ({
    [`${m.name}.lora_A`]: [m.r, m.shape[1]],
    [`${m.name}.lora_B`]: [m.shape[0], m.r],
    [`${m.name}.lora_E`]: [m.r, 1],
  }),
  init(c, m, key) {
    const [ka, kb, ke] = splitKey(key, 3);
    const [out, inp] = m.shape;
    if (c.initLoraWeights) {
      ke.dispose();
      return {
        [`${m.name}.lora_A`]: random.normal(ka, [m.r, inp]).mul(0.02),
        [`${m.name}.lora_B`]: random.normal(kb, [out, m.r]).mul(0.02),
        [`${m.name}.lora_E`]: zeros([m.r, 1]),
      };
    }
    return {
      [`${m.name}.lora_A`]: random.normal(ka, [m.r, inp]),
      [`${m.name}.lora_B`]: random.normal(kb, [out, m.r]),
      [`${m.name}.lora_E`]: random.normal(ke, [m.r, 1]),
    };
  },
  delta(get, m) {
    if (m.r === 0) return zeros(m.shape); // every triplet pruned
    const a = get(`${m.name}.lora_A`).mul(get(`${m.name}.lora_E`));
    return np.matmul(get(`${m.name}.lora_B`), a).mul(m.scaling / (m.ranknum + 1e-5));
  },
  regularizer: (c, modules, get) => orthogonalityLoss(modules, get).mul(c.orthRegWeight),
  trainer: (c, modules, run) => adaloraTrainer(c, modules, run),
  exported: (c, params, state) => adaloraExported(c, params, state),
  inferShapes(tensors) {
    const shapes: Record<string, number[]> = {};
    for (const [key, shape] of tensors) {
      const m = /^(.*)\.lora_A$/.exec(key);
      const b = m && tensors.get(`${m[1]}.lora_B`);
      if (m && b) shapes[`${m[1]}.weight`] = [b[0], shape[1]];
      else if (!/\.lora_[ABE]$/.test(key)) shapes[key] = shape;
    }
    return shapes;
  },
  describe: (c) =>
    `init_r ${c.initR}, target_r ${c.targetR}, lora_alpha ${c.loraAlpha}, tinit ${c.tinit}, tfinal ${c.tfinal}, deltaT ${c.deltaT}, total_step ${c.totalStep}, orth_reg_weight ${c.orthRegWeight}, target_modules ${JSON.stringify(c.targetModules)}${rankMask(c) ? `, ranks kept ${Object.values(rankMask(c) ?? {}).reduce((n, m) => n + m.filter(Boolean).length, 0)}` : ""}`,
};

/**
 * PEFT's orthogonality term before its weight: the mean over every lora_A (QQᵀ) and lora_B (PᵀP)
 * of ‖cov − I‖_F. A new 0-d array; tensors are read through `get`.
 */
export function orthogonalityLoss(modules: TypedModule[], get: TensorGetter): np.Array {
  let sum: np.Array | undefined;
  let n = 0;
  for (const m of modules) {
    if (m.r === 0) continue;
    const a = get(`${m.name}.lora_A`);
    const b = get(`${m.name}.lora_B`);
    for (const cov of [np.matmul(a.ref, a.transpose()), np.matmul(b.ref.transpose(), b)]) {
      const d = cov.sub(np.eye(m.r, undefined, { dtype: np.float32 }));
      const norm = np.sqrt(d.ref.mul(d).sum());
      sum = sum === undefined ? norm : sum.add(norm);
      n++;
    }
  }
  return sum === undefined ? np.zeros([], { dtype: np.float32 }) : sum.div(n);
}

/**
 * The PEFT folder's form of a trained adapter: rank_pattern set to `mask` and each module's
 * tensors sliced to its kept triplets (PEFT's resize_state_dict_by_rank_pattern). Borrows
 * `params`; the caller owns the returned arrays.
 */
export function prunedAdapter(
  config: AdaloraConfig,
  params: Record<string, np.Array>,
  mask: RankMask,
): { config: AdaloraConfig; params: Record<string, np.Array> } {
  const out: Record<string, np.Array> = {};
  const suffix = /\.lora_[ABE]$/;
  for (const [k, a] of Object.entries(params)) if (!suffix.test(k)) out[k] = a.ref;
  for (const [ek, keep] of Object.entries(mask)) {
    const name = ek.slice(0, -".lora_E".length);
    const idx = keep.flatMap((b, i) => (b ? [i] : []));
    const all = idx.length === keep.length;
    const rows = (x: np.Array) => (all ? x : np.take(x, np.array(idx, { dtype: np.int32 }), 0));
    const cols = (x: np.Array) => (all ? x : np.take(x, np.array(idx, { dtype: np.int32 }), 1));
    out[`${name}.lora_A`] = rows(params[`${name}.lora_A`].ref);
    out[`${name}.lora_E`] = rows(params[`${name}.lora_E`].ref);
    out[`${name}.lora_B`] = cols(params[`${name}.lora_B`].ref);
  }
  const withMask = { ...config, rankPattern: mask } as unknown as AdaloraConfig;
  return { config: withMask, params: out };
}
