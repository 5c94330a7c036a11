/**
 * LaMDA (Azizi et al. 2024, "LaMDA: Large Model Fine-Tuning via Spectrally Decomposed
 * Low-Dimensional Adaptation"), as the authors' code (ArminAzizi98/LaMDA lamda.py and
 * custom_trainer.py's gradual_freeze_B, read not copied). No PEFT type: Rankwise writes a
 * PEFT-style folder whose adapter_config.json says peft_type "LAMDA"; the frozen A is in the
 * file, so a folder merges on its own.
 *
 * Rule: ΔW = (alpha/r) · B·S·A with A = `lamda_A` [r, in] frozen (the first projection, PMA),
 * S = `lamda_S` [r, r] trainable (the low-dimensional square matrix, the code's `sigma`), and
 * B = `lamda_B` [out, r] (PMB) trained and frozen gradually: at optimizer update t (counting
 * micro-batches, as the code's total_iter) the first c = ⌊t / (freeze_eta · steps ·
 * accumulate)⌋ columns of B get zero gradient, and all of B once c ≥ r (the code's
 * gradual_freeze_B with eta 0.3). W' = W + ΔW. Init: init_weights "svd" (default): A = the r
 * leading right singular vectors of W (rows of Vᵀ) — the "spectrally decomposed" projection;
 * true: A kaiming_uniform(a = √5) (PEFT's lora_A, what the released code uses); both: S =
 * kaiming_uniform(a = √5) (torch's nn.Linear(r, r) default), B = 0, so ΔW = 0.
 * Config: r (8), alpha (16), init_weights, freeze_eta (0.3), target_modules (the code's seven
 * LLaMA projections), layers_to_transform / layers_pattern.
 *
 * Deviations: the paper's body was not available (only its abstract, and a third-party summary
 * saying both projections start from W's singular vectors and B freezes "based on the singular
 * values"); the released code initialises A and B as PEFT's LoRA (random A, zero B) and freezes
 * B's columns in index order. Rankwise takes A from W's SVD (the abstract's "spectrally
 * decomposed"; init_weights true is the code's random A), keeps B = 0 so training starts at the
 * base model, and follows the code's column schedule. LaMDA++'s adaptive rank
 * allocation is not implemented. Frozen entries never move (./freeze-trainer.ts: no momentum or
 * weight decay either); the code only zeroes their gradients. lora_dropout is not applied.
 */
import { lax, numpy as np } from "@jax-js/jax";
import { svd } from "../../linalg/svd.js";
import { splitKey } from "../lora.js";
import { intField, LAYER_FIELDS, numberField } from "./config.js";
import { freezingTrainer } from "./freeze-trainer.js";
import { kaimingUniform, zeros } from "./init-util.js";
import type { AdapterType, TypedConfig, TypedModule } from "./registry.js";

/** LaMDA's config. */
export interface LamdaConfig extends TypedConfig {
  r: number;
  alpha: number;
  initWeights: boolean | "svd";
  freezeEta: number;
}

/** One LaMDA module. */
export interface LamdaModule extends TypedModule {
  scaling: number;
}

const TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj", "gate_proj"];

/** The number of B columns frozen at update t (1-based) of a run of `updates` updates. */
export const frozenColumns = (t: number, eta: number, updates: number): number =>
  Math.floor(t / (eta * updates));

export const LAMDA: AdapterType<LamdaConfig, LamdaModule> = {
  peftType: "LAMDA",
  title: "LaMDA",
  methods: ["lamda"],
  fields: [
    intField("r", 8),
    numberField("alpha", 16),
    {
      key: "initWeights",
      default: "svd",
      ok: (v) => v === "svd" || v === true,
      accepted: '"svd" or true',
    },
    { ...numberField("freezeEta", 0.3, 0), ok: (v) => typeof v === "number" && v > 0 },
    ...LAYER_FIELDS,
  ],
  defaultTargets: TARGETS,
  fromSettings: (s) => ({ r: s.rank, alpha: s.alpha, targetModules: s.target ?? TARGETS }),
  module(c, m) {
    const r = Math.min(c.r, m.shape[0], m.shape[1]);
    return { ...m, r, scaling: c.alpha / c.r };
  },
  tensors: (m) => ({
    [`${m.name}.lamda_A`]: [m.r, m.shape[1]],
    [`${m.name}.lamda_S`]: [m.r, m.r],
    [`${m.name}.lamda_B`]: [m.shape[0], m.r],
  }),
  init(c, m, key, weight) {
    const [ka, ks] = splitKey(key, 2);
    let a: np.Array;
    if (c.initWeights === "svd") {
      ka.dispose();
      const { u, s, vt } = svd(weight.ref);
      u.dispose();
      s.dispose();
      a = vt.slice([0, m.r]);
    } else a = kaimingUniform(ka, [m.r, m.shape[1]]);
    return {
      [`${m.name}.lamda_A`]: a,
      [`${m.name}.lamda_S`]: kaimingUniform(ks, [m.r, m.r]),
      [`${m.name}.lamda_B`]: zeros([m.shape[0], m.r]),
    };
  },
  delta(get, m) {
    const p = (x: string) => get(`${m.name}.lamda_${x}`);
    const a = lax.stopGradient(p("A"));
    return np.matmul(np.matmul(p("B"), p("S")), a).mul(m.scaling);
  },
  trainer(c, modules, run) {
    const updates = run.steps * run.accumulate;
    return freezingTrainer(
      modules.map((m) => `${m.name}.lamda_A`),
      (t) => {
        const frozen = frozenColumns(t, c.freezeEta, updates);
        if (frozen === 0) return {};
        const masks: Record<string, np.Array> = {};
        for (const m of modules) {
          const cols = Array.from({ length: m.r }, (_, j) => (j < frozen ? 0 : 1));
          masks[`${m.name}.lamda_B`] = np.array([cols], { dtype: np.float32 });
        }
        return masks;
      },
    );
  },
  // A is never trained; B is (its columns freeze one by one during the run, so it counts).
  frozen: (key) => key.endsWith(".lamda_A"),
  inferShapes(tensors) {
    const shapes: Record<string, number[]> = {};
    for (const [key, shape] of tensors) {
      const mod = /^(.*)\.lamda_A$/.exec(key);
      if (mod) {
        const b = tensors.get(`${mod[1]}.lamda_B`);
        if (b) shapes[`${mod[1]}.weight`] = [b[0], shape[1]];
      } else if (!/\.lamda_(S|B)$/.test(key)) shapes[key] = shape;
    }
    return shapes;
  },
  describe: (c) =>
    `r ${c.r}, alpha ${c.alpha}, init_weights ${JSON.stringify(c.initWeights)}, freeze_eta ${c.freezeEta}`,
};
