/**
 * LoKr (Edalati et al. 2022, "KronA: Parameter Efficient Tuning with Kronecker Adapter";
 * LyCORIS), as PEFT's LoKr tuner (huggingface/peft src/peft/tuners/lokr/{config,layer}.py,
 * read not copied).
 *
 * Rule: ΔW = kron(w1, w2)·alpha/r, w1 [out_l, in_m], w2 [out_k, in_n], where
 * (in_m, in_n) = factorization(in, decompose_factor) and (out_l, out_k) =
 * factorization(out, decompose_factor) — PEFT's rule: with a factor f > 0 dividing the
 * dimension, (f, dim/f); else the divisor pair m ≤ n with m + n smallest found by walking m up
 * from 1 while m + n shrinks and m ≤ f (f = dim for −1). w1 is stored whole (`lokr_w1`) unless
 * decompose_both and r < max(out_l, in_m)/2, then as `lokr_w1_a` [out_l, r] · `lokr_w1_b`
 * [r, in_m]; w2 whole (`lokr_w2`) unless r < max(out_k, in_n)/2, then `lokr_w2_a` [out_k, r] ·
 * `lokr_w2_b` [r, in_n]. W' = W + ΔW; unmerge W' − ΔW. Init (init_weights true): w1 (or w1_a)
 * = 0, the rest kaiming_uniform(a=√5), so ΔW = 0; "lycoris": w2 (or w2_b) = 0, the rest
 * kaiming; false: all kaiming.
 *
 * Deviations: rank_dropout (and rank_dropout_scale) / module_dropout are not applied;
 * use_effective_conv2d and lokr_t2 concern Conv layers only; random draws from jax-js.
 */
import { numpy as np } from "@jax-js/jax";
import { splitKey } from "../lora.js";
import { boolField } from "./config.js";
import { kaimingUniform, zeros } from "./init-util.js";
import { LYCORIS_FIELDS, LYCORIS_LLAMA_TARGETS, type LycorisConfig } from "./lycoris-fields.js";
import type { AdapterType, TypedModule } from "./registry.js";

/** LoKr's config (PEFT's LoKrConfig). */
export interface LokrConfig extends LycorisConfig {
  decomposeBoth: boolean;
  decomposeFactor: number;
  rankDropoutScale: boolean;
  initWeights: boolean | "lycoris";
}

/** One LoKr module: its Kronecker factor shapes and which factors are stored whole. */
export interface LokrModule extends TypedModule {
  scaling: number;
  /** [out_l, out_k] and [in_m, in_n]. */
  out: [number, number];
  in: [number, number];
  useW1: boolean;
  useW2: boolean;
}

/** PEFT's (LyCORIS's) factorization(dimension, factor): m ≤ n (unless f > 0 divides), m·n = dim. */
export function factorization(dimension: number, factor = -1): [number, number] {
  if (factor > 0 && dimension % factor === 0) return [factor, dimension / factor];
  const f = factor === -1 ? dimension : factor;
  let m = 1;
  let n = dimension;
  const length = m + n;
  while (m < n) {
    let next = m + 1;
    while (dimension % next !== 0) next++;
    const nextN = dimension / next;
    if (next + nextN > length || next > f) break;
    m = next;
    n = nextN;
  }
  return m > n ? [n, m] : [m, n];
}

/** kron(a [p, q], b [s, t]) = [p·s, q·t]. Consumes both. */
export function kron(a: np.Array, b: np.Array): np.Array {
  const [p, q] = a.shape;
  const [s, t] = b.shape;
  return a
    .reshape([p, 1, q, 1])
    .mul(b.reshape([1, s, 1, t]))
    .reshape([p * s, q * t]);
}

/** LoKr (PEFT's LOKR): ΔW = kron(w1, w2) · alpha/r, either factor optionally low-rank. */
export const LOKR: AdapterType<LokrConfig, LokrModule> = {
  peftType: "LOKR",
  title: "LoKr",
  methods: ["lokr"],
  fields: [
    ...LYCORIS_FIELDS,
    boolField("decomposeBoth", false),
    {
      key: "decomposeFactor",
      default: -1,
      ok: (v) => v === -1 || (Number.isInteger(v) && (v as number) > 0),
      accepted: "-1 or a positive integer",
    },
    boolField("rankDropoutScale", false),
    {
      key: "initWeights",
      default: true,
      ok: (v) => typeof v === "boolean" || v === "lycoris",
      accepted: 'true, false or "lycoris"',
    },
  ],
  defaultTargets: LYCORIS_LLAMA_TARGETS,
  fromSettings: (s) => ({
    r: s.rank,
    alpha: s.alpha,
    targetModules: s.target ?? LYCORIS_LLAMA_TARGETS,
  }),
  module(c, m) {
    const [inM, inN] = factorization(m.shape[1], c.decomposeFactor);
    const [outL, outK] = factorization(m.shape[0], c.decomposeFactor);
    return {
      ...m,
      scaling: m.alpha / m.r,
      out: [outL, outK],
      in: [inM, inN],
      useW1: !(c.decomposeBoth && m.r < Math.max(outL, inM) / 2),
      useW2: !(m.r < Math.max(outK, inN) / 2),
    };
  },
  tensors(m) {
    const t: Record<string, number[]> = {};
    if (m.useW1) t[`${m.name}.lokr_w1`] = [m.out[0], m.in[0]];
    else {
      t[`${m.name}.lokr_w1_a`] = [m.out[0], m.r];
      t[`${m.name}.lokr_w1_b`] = [m.r, m.in[0]];
    }
    if (m.useW2) t[`${m.name}.lokr_w2`] = [m.out[1], m.in[1]];
    else {
      t[`${m.name}.lokr_w2_a`] = [m.out[1], m.r];
      t[`${m.name}.lokr_w2_b`] = [m.r, m.in[1]];
    }
    return t;
  },
  init(config, m, key) {
    const shapes = LOKR.tensors(m);
    const names = Object.keys(shapes);
    const keys = splitKey(key, names.length);
    // Which tensor starts at zero: PEFT's reset_adapter_parameters / _lycoris_way / _random.
    const zeroed =
      config.initWeights === true
        ? m.useW1
          ? `${m.name}.lokr_w1`
          : `${m.name}.lokr_w1_a`
        : config.initWeights === "lycoris"
          ? m.useW2
            ? `${m.name}.lokr_w2`
            : `${m.name}.lokr_w2_b`
          : undefined;
    const out: Record<string, np.Array> = {};
    names.forEach((k, i) => {
      const shape = shapes[k] as [number, number];
      if (k === zeroed) {
        keys[i].dispose();
        out[k] = zeros(shape);
      } else out[k] = kaimingUniform(keys[i], shape);
    });
    return out;
  },
  delta(get, m) {
    const p = (n: string) => get(`${m.name}.${n}`);
    const w1 = m.useW1 ? p("lokr_w1") : np.matmul(p("lokr_w1_a"), p("lokr_w1_b"));
    const w2 = m.useW2 ? p("lokr_w2") : np.matmul(p("lokr_w2_a"), p("lokr_w2_b"));
    return kron(w1, w2).mul(m.scaling);
  },
  inferShapes(tensors) {
    const shapes: Record<string, number[]> = {};
    const dims = (key: string, whole: string, a: string, b: string) => {
      const w = tensors.get(`${key}.${whole}`);
      if (w) return w;
      const fa = tensors.get(`${key}.${a}`);
      const fb = tensors.get(`${key}.${b}`);
      return fa && fb ? [fa[0], fb[1]] : undefined;
    };
    for (const [key, shape] of tensors) {
      const m = /^(.*)\.lokr_(w1|w1_a)$/.exec(key);
      if (m) {
        const w1 = dims(m[1], "lokr_w1", "lokr_w1_a", "lokr_w1_b");
        const w2 = dims(m[1], "lokr_w2", "lokr_w2_a", "lokr_w2_b");
        if (w1 && w2) shapes[`${m[1]}.weight`] = [w1[0] * w2[0], w1[1] * w2[1]];
      } else if (!/\.lokr_(w1|w2|w1_a|w1_b|w2_a|w2_b|t2)$/.test(key)) shapes[key] = shape;
    }
    return shapes;
  },
  describe: (c) =>
    `r ${c.r}, alpha ${c.alpha}, decompose_both ${c.decomposeBoth}, decompose_factor ${c.decomposeFactor}, init_weights ${JSON.stringify(c.initWeights)}`,
};
