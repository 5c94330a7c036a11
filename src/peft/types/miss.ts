/**
 * MiSS (Kang & Yin 2024, "MiSS: Balancing LoRA Performance and Efficiency with Simple Shard
 * Sharing", formerly "Bone: Block-Affine Adaptation"), as PEFT's MISS tuner (huggingface/peft
 * src/peft/tuners/miss/{config,layer}.py), and old Bone folders (peft_type "BONE", keys
 * `bone_block`; src/peft/tuners/bone/ before PEFT removed it), read not copied.
 *
 * Rule, by init_weights (the mode is kept after init, as PEFT's `miss_fn`):
 *   true / false ("MiSS"): `miss_block` M [r, out]; ΔW[o, i] = M[i mod r, o] — the input is
 *     summed over its blocks of r (zero-padded) and multiplied by M, which is W' = W + ΔW.
 *   "mini": `miss_block` [r, mini_r] repeated along out: M[j, o] = block[j, o mod mini_r]
 *     (out must be divisible by mini_r).
 *   "bat": `miss_block` B [out/r, r, r] (out and in divisible by r); with W cut into r×r blocks
 *     W_{a,c} (row block a, column block c): W'_{a,c} = W_{a,c} + W_{a,c}·B_a + B_a. Not additive:
 *     unmerge is W_{a,c} = (W'_{a,c} − B_a)(I + B_a)⁻¹, and ΔW needs W.
 * Init: zeros (ΔW = 0), except init_weights false: M ~ kaiming_uniform(a=√5) (U(±1/√out)).
 * Config: r 64, miss_dropout 0, mini_r 1, init_weights, bias "none", layers_to_transform /
 * layers_pattern; LLaMA's default targets q_proj, v_proj. Bone: the same with modes true, false
 * and "bat" (Bone's "bat" is MiSS's; Bone's true/false are MiSS's true/false), key `bone_block`,
 * no dropout or mini_r; a Bone folder is read, merged and converted, and written as MiSS (PEFT
 * no longer loads BONE; see BONE below).
 *
 * Deviations: miss_dropout is stored, not applied. Every mode goes through W' = f(W) in this
 * framework (the type cannot be additive for one mode and not another); converting needs the
 * base model (--model) anyway, as the folder does not give a module's in_features. Random draws
 * from jax-js.
 */
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import { intField, LAYER_FIELDS, numberField, typedConfig } from "./config.js";
import { kaimingUniform, zeros } from "./init-util.js";
import { biasField } from "./projection-fields.js";
import type { AdapterType, FieldSpec, TensorGetter, TypedConfig, TypedModule } from "./registry.js";

/** MiSS's config (PEFT's MissConfig; Bone's BoneConfig has no miss_dropout / mini_r). */
export interface MissConfig extends TypedConfig {
  r: number;
  missDropout?: number;
  miniR?: number;
  initWeights: boolean | "bat" | "mini";
  bias: string;
}

/** One MiSS module: its mode, block tensor key and shape. */
export interface MissModule extends TypedModule {
  mode: "miss" | "mini" | "bat";
  key: string;
  block: number[];
  miniR: number;
}

/** ΔW [out, in] of the additive modes: ΔW[o, i] = M[i mod r, o]. Consumes `block`. */
function shardDelta(block: np.Array, m: MissModule): np.Array {
  const [out, inp] = m.shape;
  const full = m.mode === "mini" ? np.tile(block, [1, out / m.miniR]) : block; // [r, out]
  const reps = Math.ceil(inp / m.r);
  return np.tile(full.transpose(), [1, reps]).slice([], [0, inp]);
}

/** W' of "bat": per r×r block W_{a,c} + W_{a,c}·B_a + B_a. Consumes `w` and `b`. */
function batWeight(w: np.Array, b: np.Array, m: MissModule): np.Array {
  const [out, inp] = m.shape;
  const r = m.r;
  const bb = b.reshape([out / r, 1, r, r]);
  const blocks = w.ref.reshape([out / r, r, inp / r, r]).transpose([0, 2, 1, 3]); // [a, c, p, s]
  const delta = np.matmul(blocks, bb.ref).add(bb).transpose([0, 2, 1, 3]).reshape([out, inp]);
  return w.add(delta);
}

/** W of "bat" from W': (W'_{a,c} − B_a)(I + B_a)⁻¹. Consumes `merged` and `b`. */
function batUnweight(merged: np.Array, b: np.Array, m: MissModule): np.Array {
  const [out, inp] = m.shape;
  const r = m.r;
  const bb = b.reshape([out / r, 1, r, r]);
  const inv = np.linalg.inv(bb.ref.add(np.eye(r, undefined, { dtype: np.float32 })));
  const blocks = merged
    .reshape([out / r, r, inp / r, r])
    .transpose([0, 2, 1, 3])
    .sub(bb);
  return np.matmul(blocks, inv).transpose([0, 2, 1, 3]).reshape([out, inp]);
}

function missType(bone: boolean): AdapterType<MissConfig, MissModule> {
  const prefix = bone ? "bone" : "miss";
  const modes = bone ? [true, false, "bat"] : [true, false, "bat", "mini"];
  const initWeights: FieldSpec = {
    key: "initWeights",
    default: true,
    ok: (v) => modes.includes(v as boolean | string),
    accepted: bone ? 'true, false or "bat"' : 'true, false, "bat" or "mini"',
  };
  const type: AdapterType<MissConfig, MissModule> = {
    peftType: bone ? "BONE" : "MISS",
    title: bone ? "Bone" : "MiSS",
    methods: bone ? [] : ["miss"],
    fields: [
      intField("r", 64),
      ...(bone ? [] : [numberField("missDropout", 0, 0, 1), intField("miniR", 1)]),
      initWeights,
      biasField(`${prefix}_only`),
      ...LAYER_FIELDS,
    ],
    defaultTargets: ["q_proj", "v_proj"],
    fromSettings: (s) => ({ r: s.rank, targetModules: s.target ?? ["q_proj", "v_proj"] }),
    module(c, m) {
      const [out, inp] = m.shape;
      const mode = c.initWeights === "bat" ? "bat" : c.initWeights === "mini" ? "mini" : "miss";
      const miniR = c.miniR ?? 1;
      if (mode === "bat" && (out % m.r !== 0 || inp % m.r !== 0))
        throw new UsageError(
          `${type.title} "bat": ${m.name} [${out}, ${inp}] must split into ${m.r}×${m.r} blocks; accepted: an r dividing both dimensions`,
        );
      if (mode === "mini" && out % miniR !== 0)
        throw new UsageError(
          `MiSS "mini": mini_r ${miniR} must divide ${m.name}'s out_features ${out}; accepted: a divisor of it`,
        );
      const block = mode === "bat" ? [out / m.r, m.r, m.r] : [m.r, mode === "mini" ? miniR : out];
      return { ...m, mode, key: `${m.name}.${prefix}_block`, block, miniR };
    },
    tensors: (m) => ({ [m.key]: m.block }),
    init(c, m, key) {
      if (c.initWeights === false)
        return { [m.key]: kaimingUniform(key, m.block as [number, number]) };
      key.dispose();
      return { [m.key]: zeros(m.block) };
    },
    weight: (w: np.Array, get: TensorGetter, m: MissModule) =>
      m.mode === "bat" ? batWeight(w, get(m.key), m) : w.add(shardDelta(get(m.key), m)),
    unweight: (merged: np.Array, get: TensorGetter, m: MissModule) =>
      m.mode === "bat" ? batUnweight(merged, get(m.key), m) : merged.sub(shardDelta(get(m.key), m)),
    describe: (c) =>
      `r ${c.r}, init_weights ${JSON.stringify(c.initWeights)}${bone ? "" : `, mini_r ${c.miniR}`}, target_modules ${JSON.stringify(c.targetModules)}`,
  };
  return type;
}

/** MiSS (PEFT's MISS, Bone's successor): block-shared updates of the weight. */
export const MISS = missType(false);
/**
 * Old Bone folders (peft_type "BONE", `bone_block`): MiSS's rules under Bone's names. PEFT removed
 * Bone (peft#3051, v0.19), so a Bone adapter is written as MiSS, as PEFT's
 * scripts/convert-bone-to-miss.py does: peft_type "MISS", `bone_block` → `miss_block`, the
 * other fields (init_weights true/false/"bat" mean the same in MiSS) kept, mini_r and
 * miss_dropout at their defaults.
 */
export const BONE: AdapterType<MissConfig, MissModule> = {
  ...missType(true),
  writeAs(config, params) {
    const { peftType: _bone, ...fields } = config;
    const renamed: Record<string, np.Array> = {};
    for (const [k, a] of Object.entries(params))
      renamed[k.endsWith(".bone_block") ? k.replace(/\.bone_block$/, ".miss_block") : k] = a;
    return { config: typedConfig(MISS, fields), params: renamed };
  },
};
