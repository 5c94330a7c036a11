/**
 * SLTrain as a model option (Han, Li, Wang, Hong, Mishra et al., NeurIPS 2024, arXiv 2406.02214):
 * a decoder linear module `<m>` (q/k/v/o, gate/up/down of a block) holds no dense weight but
 *
 *   <m>.lowrank_a.weight  A [r, in]     <m>.lowrank_b.weight  B [out, r]     (./low-rank.ts names)
 *   <m>.sparse_values     v [nnz]       nnz = ⌊δ·out·in⌋ (optim/transforms/seeded-init.ts)
 *
 * and computes y = x Wᵀ with W = (α/r)·B A + S, S the [out, in] matrix holding v on a fixed
 * random support (nnz distinct flat indices, ascending) and zero elsewhere. The support is not
 * a tensor: config.json's `"rankwise_sltrain": {"rank", "alpha", "density", "seed"}`
 * (LlamaConfig.rankwise_sltrain) regenerates it, module k (= 7·layer + its place in q, k, v, o,
 * gate, up, down) drawing torch.randperm's law (`randomSupport`) from the PRNG seeded with
 * seed + (k + 1)·2³². So the trained numbers are r·(in + out) + nnz per module instead of in·out,
 * and any optimizer's state shrinks with them. `train --sltrain r` makes a fresh model so
 * ({@link withSltrain}): B = 0, A and v ~ U(±1/√in) (kaiming_uniform(√5), the authors' init).
 * Embeddings, norms and lm_head stay dense (the authors' target modules are the blocks' linears).
 *
 * Reference: the authors' code (andyjm3/SLTrain, read, not copied): splora/splora_linear.py
 * SpLoRaLinear (init; scale lora_alpha/r applied to A; support torch.randperm(numel)[:nnz]
 * sorted) and sparse-lora/sparse_linear.cpp (forward W = B A, W.view(-1).scatter_add_(idx, v),
 * y = linear(x, W); backward ∂v = gather(∂W, idx)). Here too W is formed transiently inside the
 * forward (never stored), S by the engine's scatter (optim/transforms/scatter.ts: the transpose
 * of `take`), so the gradient of v is a gather of ∂W. Forming W beats the factored product
 * x Aᵀ Bᵀ + x Sᵀ once S is dense: B A costs r·in·out once per step, the factored path r·(in+out)
 * per token on top of S's in·out.
 *
 * Deviations: the random draws come from the library's PRNG (torch's laws, not its streams); the
 * support is regenerated from the recorded seed instead of stored as a buffer; no trainable
 * scaling, dropout or bias (the authors' defaults; LLaMA has no biases). Commands that need one
 * dense matrix per module (export, finetune, merge, prune, quantize) call {@link densifySparse}.
 */
import { numpy as np } from "@jax-js/jax";
import { Xoshiro128 } from "../engine/rng.js";
import { scatterFlat } from "../optim/transforms/scatter.js";
import { randomSupport, supportCount, uniformHost } from "../optim/transforms/seeded-init.js";
import { BLOCK_LINEARS, type LlamaConfig, type SltrainConfig } from "./llama-config.js";
import { LOW_RANK_A, LOW_RANK_B } from "./low-rank.js";

/** The suffix of a module's sparse values: `<m>.sparse_values`. */
export const SPARSE_VALUES = "sparse_values";

/** The config.json key recording the SLTrain parametrisation (LlamaConfig.rankwise_sltrain). */
export const SLTRAIN_CONFIG_KEY = "rankwise_sltrain";

/** A block's linear modules in the order that numbers them (module k = 7·layer + place). */
const PLACES: readonly string[] = BLOCK_LINEARS;
const MODULE = /^model\.layers\.(\d+)\.(self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)$/;
const VALUES =
  /^(model\.layers\.\d+\.(?:self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj))\.sparse_values$/;

/** The module of a sparse-values tensor name, or undefined for any other name. */
export function parseSparseName(name: string): string | undefined {
  return VALUES.exec(name)?.[1];
}

/** Module k's number: 7·layer + its place among q, k, v, o, gate, up, down. */
function moduleNumber(module: string): number {
  const m = MODULE.exec(module);
  if (!m) throw new TypeError(`${module} is not a decoder linear module`);
  return 7 * Number(m[1]) + PLACES.indexOf(m[2]!);
}

// Supports by (seed, density, module, shape): drawn once per process, so that a forward under
// jit sees the same host constant on every trace.
const supports = new Map<string, Int32Array>();

/**
 * The support of `module`'s S [out, in]: ⌊δ·out·in⌋ distinct flat indices, ascending, drawn from
 * the PRNG seeded with seed + (k + 1)·2³² (k the module's number). Memoised; do not modify.
 */
export function sparseSupport(
  sl: SltrainConfig,
  module: string,
  out: number,
  inp: number,
): Int32Array {
  const key = `${sl.seed}/${sl.density}/${module}/${out}x${inp}`;
  let support = supports.get(key);
  if (support === undefined) {
    const gen = Xoshiro128.fromSeed(sl.seed + (moduleNumber(module) + 1) * 2 ** 32);
    support = randomSupport(gen, out * inp, supportCount(sl.density, out, inp));
    supports.set(key, support);
  }
  return support;
}

/**
 * The sparse-values names in `params`, checked against the dense shapes (`<m>.weight` → [out,
 * in]) and the config: the config records SLTrain, the module holds both factors of the recorded
 * rank and no dense weight, and v has ⌊δ·out·in⌋ entries. Throws naming the first problem.
 * Borrows.
 */
export function checkSparseValues(
  params: Record<string, np.Array>,
  shapes: Record<string, number[]>,
  config: LlamaConfig,
): Set<string> {
  const names = new Set<string>();
  for (const [name, v] of Object.entries(params)) {
    const module = parseSparseName(name);
    if (module === undefined) continue;
    const dense = shapes[`${module}.weight`];
    if (dense === undefined)
      throw new TypeError(`unexpected parameter ${name} (no module ${module})`);
    const sl = config.rankwise_sltrain;
    if (sl === undefined) {
      throw new TypeError(
        `parameter ${name} needs the SLTrain record (config.json ${SLTRAIN_CONFIG_KEY})`,
      );
    }
    if (params[`${module}.weight`] !== undefined) {
      throw new TypeError(
        `${module} holds both ${module}.weight and sparse values; an SLTrain module has no dense weight`,
      );
    }
    const a = params[`${module}.${LOW_RANK_A}`];
    if (a === undefined || params[`${module}.${LOW_RANK_B}`] === undefined) {
      throw new TypeError(`${module} holds sparse values without both low-rank factors`);
    }
    if (a.shape[0] !== sl.rank) {
      throw new RangeError(
        `factors of ${module} have rank ${a.shape[0]}, config.json ${SLTRAIN_CONFIG_KEY} records rank ${sl.rank}`,
      );
    }
    const nnz = supportCount(sl.density, dense[0]!, dense[1]!);
    if (v.ndim !== 1 || v.shape[0] !== nnz) {
      throw new RangeError(
        `parameter ${name} has shape [${v.shape}], expected [${nnz}] (density ${sl.density})`,
      );
    }
    names.add(name);
  }
  return names;
}

/**
 * W = (α/r)·B A + S of `module` ([out, in]): S from v on the module's support. Consumes a, b and
 * values. The scale goes on A, as the authors apply it.
 */
export function sparseWeight(
  module: string,
  a: np.Array,
  b: np.Array,
  values: np.Array,
  sl: SltrainConfig,
): np.Array {
  const out = b.shape[0]!;
  const inp = a.shape[1]!;
  const support = sparseSupport(sl, module, out, inp);
  // The scatter's inputs stay plain 1-D arrays (a reshaped view fails under jit); S is
  // reshaped afterwards.
  const s = scatterFlat(values, np.array(support), out * inp).reshape([out, inp]);
  return np.matmul(b, a.mul(sl.alpha / sl.rank)).add(s);
}

/**
 * The parameters with every SLTrain module made dense: `<m>.weight` = (α/r)·B A + S in the
 * place of its factors and values (which are removed); other entries move over unchanged.
 * Consumes `params`. The config's SLTrain record then describes nothing: see
 * {@link withoutSltrain}.
 */
export function densifySparse(
  params: Record<string, np.Array>,
  config: LlamaConfig,
): Record<string, np.Array> {
  const modules = new Set<string>();
  for (const name of Object.keys(params)) {
    const module = parseSparseName(name);
    if (module !== undefined) modules.add(module);
  }
  if (modules.size === 0) return params;
  const sl = config.rankwise_sltrain;
  const broken = [...modules].find(
    (m) => !params[`${m}.${LOW_RANK_A}`] || !params[`${m}.${LOW_RANK_B}`],
  );
  if (sl === undefined || broken !== undefined) {
    for (const p of Object.values(params)) p.dispose();
    throw new TypeError(
      sl === undefined
        ? `sparse values need the SLTrain record (config.json ${SLTRAIN_CONFIG_KEY})`
        : `${broken} holds sparse values without both low-rank factors`,
    );
  }
  const out: Record<string, np.Array> = {};
  for (const [name, p] of Object.entries(params)) {
    const module = [LOW_RANK_A, LOW_RANK_B, SPARSE_VALUES]
      .filter((suffix) => name.endsWith(`.${suffix}`))
      .map((suffix) => name.slice(0, -suffix.length - 1))[0];
    if (module === undefined || !modules.has(module)) {
      out[name] = p;
      continue;
    }
    if (`${module}.weight` in out) continue; // made at its first tensor
    out[`${module}.weight`] = sparseWeight(
      module,
      params[`${module}.${LOW_RANK_A}`]!,
      params[`${module}.${LOW_RANK_B}`]!,
      params[`${module}.${SPARSE_VALUES}`]!,
      sl,
    );
  }
  return out;
}

/** `config` without its SLTrain record (for a model {@link densifySparse} made dense). */
export function withoutSltrain(config: LlamaConfig): LlamaConfig {
  const { rankwise_sltrain: _sl, ...rest } = config;
  return rest;
}

/**
 * A fresh SLTrain model from fresh dense `params` (consumed; a new record is returned): every
 * decoder linear module's `<m>.weight` is replaced, in its place, by A ~ U(±1/√in) [r, in],
 * B = 0 [out, r] and v ~ U(±1/√in) [nnz], A then v per module in the model's order from the PRNG
 * seeded with `config.rankwise_sltrain.seed`. Other entries move over unchanged.
 */
export function withSltrain(
  params: Record<string, np.Array>,
  config: LlamaConfig,
): Record<string, np.Array> {
  const sl = config.rankwise_sltrain;
  if (sl === undefined) {
    for (const p of Object.values(params)) p.dispose();
    throw new TypeError("withSltrain: the config has no rankwise_sltrain record");
  }
  const gen = Xoshiro128.fromSeed(sl.seed);
  const out: Record<string, np.Array> = {};
  for (const [name, w] of Object.entries(params)) {
    const module = name.endsWith(".weight") ? name.slice(0, -".weight".length) : "";
    if (!MODULE.test(module)) {
      out[name] = w;
      continue;
    }
    const [rows, cols] = w.shape as [number, number];
    w.dispose();
    const bound = 1 / Math.sqrt(cols);
    out[`${module}.${LOW_RANK_A}`] = np.array(uniformHost(gen, sl.rank * cols, bound), {
      shape: [sl.rank, cols],
    });
    out[`${module}.${LOW_RANK_B}`] = np.zeros([rows, sl.rank], { dtype: np.float32 });
    out[`${module}.${SPARSE_VALUES}`] = np.array(
      uniformHost(gen, supportCount(sl.density, rows, cols), bound),
    );
  }
  return out;
}
