/**
 * Compacter (Mahabadi et al. 2021, "Compacter: Efficient Low-Rank Hypercomplex Adapter Layers"),
 * as the authors' code (rabeehk/compacter seq2seq/hypercomplex/{layers,kronecker}.py,
 * seq2seq/adapters/adapter_modeling.py and configs/compacter.json, read not copied), applied to a
 * Linear layer's weight. No PEFT type: Rankwise writes a PEFT-style folder whose
 * adapter_config.json says peft_type "COMPACTER".
 *
 * Rule: a PHM layer maps x ↦ x·H with H = Σᵢ Aᵢ ⊗ Wᵢ (i < n = phm_dim), the "slow" rules
 * Aᵢ = `base_model.phm_rule`[i] [n, n] shared by every Compacter layer of the model, and the
 * "fast" Wᵢ = W_leftᵢ · W_rightᵢ (factorized_phm, rank phm_rank) per layer. As in the code, an
 * adapter is a down PHM layer [in → r] and an up PHM layer [r → out] (r: the bottleneck); here
 * they sit in parallel with the targeted Linear and without the nonlinearity, so that
 * ΔW = (H_down · H_up)ᵀ [out, in] and W' = W + ΔW. Tensors per module: `phm_down_W_left`
 * [n, in/n, k], `phm_down_W_right` [n, k, r/n], `phm_up_W_left` [n, r/n, k], `phm_up_W_right`
 * [n, k, out/n] (k = phm_rank). Init: rule ~ N(0, phm_init_range) ("normal") or U(−1, 1)
 * ("uniform"), the W factors glorot-uniform with gain √2 per slice (the code's
 * hypercomplex_nonlinearity "glorot-uniform"), except phm_up_W_right = 0 so that ΔW = 0.
 * Config: r (8, divisible by phm_dim), phm_dim (4), phm_rank (1), phm_c_init ("uniform"),
 * phm_init_range (0.0001), target_modules (PEFT's LLaMA default q_proj, v_proj),
 * layers_to_transform / layers_pattern; in and out must be divisible by phm_dim.
 *
 * Deviations (why): the paper's Compacter is a sequential bottleneck adapter
 * x + up(GeLU(down(x))) after the attention and feed-forward blocks; Rankwise's adapters are
 * effective weights W' = f(W) that merge exactly, so the GeLU, the residual placement and the
 * biases are dropped and the two PHM layers form ΔW of the targeted Linear (a parallel, linear
 * Compacter: it keeps the Kronecker/shared-rule parametrisation, not the nonlinearity). The up
 * layer's W_right starts at zero (the code draws it), so training starts from the base model.
 * phm_c_init defaults to "uniform" (the code's alternative) rather than compacter.json's
 * normal(1e-4): with ΔW = 0 at the start, rules of size 1e-4 make ΔW's gradient ~1e-8.
 */
import { numpy as np, random } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import { splitKey } from "../lora.js";
import { intField, LAYER_FIELDS, numberField } from "./config.js";
import { zeros } from "./init-util.js";
import type { AdapterType, TensorGetter, TypedConfig, TypedModule } from "./registry.js";

/** Compacter's config. */
export interface CompacterConfig extends TypedConfig {
  r: number;
  phmDim: number;
  phmRank: number;
  phmCInit: "normal" | "uniform";
  phmInitRange: number;
}

/** One Compacter module (n = phm_dim, k = phm_rank). */
export interface CompacterModule extends TypedModule {
  n: number;
  k: number;
}

const TARGETS = ["q_proj", "v_proj"];
const RULE = "base_model.phm_rule";

/** The four factor shapes of a module: [n, rows/n, k] / [n, k, cols/n] for down and up. */
function factorShapes(m: CompacterModule): Record<string, number[]> {
  const { n, k, r } = m;
  const [out, inp] = m.shape;
  return {
    [`${m.name}.phm_down_W_left`]: [n, inp / n, k],
    [`${m.name}.phm_down_W_right`]: [n, k, r / n],
    [`${m.name}.phm_up_W_left`]: [n, r / n, k],
    [`${m.name}.phm_up_W_right`]: [n, k, out / n],
  };
}

/** glorot-uniform with gain √2 on each [a, b] slice of [n, a, b]. Consumes `key`. */
function glorot(key: np.Array, shape: number[]): np.Array {
  const bound = Math.sqrt(2) * Math.sqrt(6 / (shape[1] + shape[2]));
  return random.uniform(key, shape, { minval: -bound, maxval: bound });
}

/** H = Σᵢ rule[i] ⊗ (left[i]·right[i]) of a PHM layer: [n·a, n·b]. Consumes its arguments. */
export function phmWeight(rule: np.Array, left: np.Array, right: np.Array): np.Array {
  const w = np.matmul(left, right); // [n, a, b]
  const [n, a, b] = w.shape;
  // Σᵢ rule[i][p, q] · w[i][s, t] at row p·a + s, column q·b + t.
  const prod = rule.reshape([n, n, 1, n, 1]).mul(w.reshape([n, 1, a, 1, b]));
  return prod.sum(0).reshape([n * a, n * b]);
}

export const COMPACTER: AdapterType<CompacterConfig, CompacterModule> = {
  peftType: "COMPACTER",
  title: "Compacter",
  methods: ["compacter"],
  fields: [
    intField("r", 8),
    intField("phmDim", 4),
    intField("phmRank", 1),
    {
      key: "phmCInit",
      default: "uniform",
      ok: (v) => v === "normal" || v === "uniform",
      accepted: '"normal" or "uniform"',
    },
    numberField("phmInitRange", 0.0001, 0),
    ...LAYER_FIELDS,
  ],
  validate(c) {
    if (c.r % c.phmDim !== 0)
      throw new UsageError(
        `adapter config: r ${c.r} is not divisible by phm_dim ${c.phmDim} (accepted: a multiple of phm_dim)`,
      );
  },
  defaultTargets: TARGETS,
  fromSettings: (s) => ({ r: s.rank, targetModules: s.target ?? TARGETS }),
  module(c, m) {
    const n = c.phmDim;
    if (m.shape[0] % n !== 0 || m.shape[1] % n !== 0)
      throw new UsageError(
        `Compacter: ${m.name} is [${m.shape}], not divisible by phm_dim ${n}; choose a phm_dim dividing both`,
      );
    return { ...m, r: c.r, n, k: c.phmRank };
  },
  tensors: factorShapes,
  shared: (c) => ({ [RULE]: [c.phmDim, c.phmDim, c.phmDim] }),
  init(_c, m, key) {
    const shapes = factorShapes(m);
    const keys = splitKey(key, 3);
    const out: Record<string, np.Array> = {};
    Object.entries(shapes).forEach(([name, shape], i) => {
      out[name] = i < 3 ? glorot(keys[i], shape) : zeros(shape);
    });
    return out;
  },
  initShared(c, _modules, key) {
    const n = c.phmDim;
    const rule =
      c.phmCInit === "uniform"
        ? random.uniform(key, [n, n, n], { minval: -1, maxval: 1 })
        : random.normal(key, [n, n, n]).mul(c.phmInitRange);
    return { [RULE]: rule };
  },
  delta(get: TensorGetter, m) {
    const p = (x: string) => get(`${m.name}.phm_${x}`);
    const down = phmWeight(get(RULE), p("down_W_left"), p("down_W_right")); // [in, r]
    const up = phmWeight(get(RULE), p("up_W_left"), p("up_W_right")); // [r, out]
    return np.matmul(down, up).transpose();
  },
  inferShapes(tensors) {
    const shapes: Record<string, number[]> = {};
    for (const [key, shape] of tensors) {
      const mod = /^(.*)\.phm_down_W_left$/.exec(key);
      if (mod) {
        const up = tensors.get(`${mod[1]}.phm_up_W_right`);
        if (up) shapes[`${mod[1]}.weight`] = [up[0] * up[2], shape[0] * shape[1]];
      } else if (!/\.phm_(down|up)_W_(left|right)$/.test(key) && key !== RULE) shapes[key] = shape;
    }
    return shapes;
  },
  describe: (c) =>
    `bottleneck r ${c.r}, phm_dim ${c.phmDim}, phm_rank ${c.phmRank}, phm_c_init ${c.phmCInit}`,
};
