/**
 * Factored (low-rank) decoder linear layers: a LLaMA linear module `<m>` (q/k/v/o, gate/up/down
 * of a block) may hold, besides or instead of its dense `<m>.weight` [out, in], two factors
 *
 *   <m>.lowrank_a.weight  A [r, in]      <m>.lowrank_b.weight  B [out, r]
 *
 * and computes y = x Wᵀ + (x Aᵀ) Bᵀ (dense W absent: y = (x Aᵀ) Bᵀ), never forming B A, so a
 * rank-r layer costs r·(in + out) multiply-adds per token instead of in·out. Pure low-rank is
 * what truncated SVD, FWSVD, WeLore and CUR write; dense + factors is LQER's quantised W plus a
 * low-rank correction of its error. The names follow Hugging Face's `<module>.<sub>.weight`
 * pattern (as PEFT's lora_A/lora_B do), and config.json records the ranks as
 * `"rankwise_low_rank": {"<m>": r, ...}` so a reader knows the layout without listing tensors.
 *
 * Commands that need one dense matrix per module (export, finetune, merge, prune, quantize) call
 * {@link densifyLowRank} when they open a model: W ← W + B A.
 */
import { numpy as np } from "@jax-js/jax";

/** The suffixes of the two factors of module `<m>`: `<m>.lowrank_a.weight`, `<m>.lowrank_b.weight`. */
export const LOW_RANK_A = "lowrank_a.weight";
export const LOW_RANK_B = "lowrank_b.weight";

/** The config.json key recording every factored module's rank. */
export const LOW_RANK_CONFIG_KEY = "rankwise_low_rank";

const FACTOR =
  /^(model\.layers\.\d+\.(?:self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj))\.lowrank_([ab])\.weight$/;

/** The module and side of a factor tensor name, or undefined for any other name. */
export function parseFactorName(name: string): { module: string; side: "a" | "b" } | undefined {
  const m = FACTOR.exec(name);
  return m ? { module: m[1]!, side: m[2] as "a" | "b" } : undefined;
}

/** Every factored module's rank (the rows of its A), by module name. Borrows. */
export function lowRankRanks(params: Record<string, np.Array>): Record<string, number> {
  const ranks: Record<string, number> = {};
  for (const [name, a] of Object.entries(params)) {
    const parsed = parseFactorName(name);
    if (parsed?.side === "a") ranks[parsed.module] = a.shape[0]!;
  }
  return ranks;
}

/** Whether any module is factored. */
export const hasLowRank = (params: Record<string, np.Array>): boolean =>
  Object.keys(params).some((name) => parseFactorName(name) !== undefined);

/**
 * Check the factors against the dense shapes `shapes` ({name: [out, in]} of the model): both
 * factors present, A [r, in] and B [out, r] with 1 ≤ r ≤ min(out, in). Returns the factor names
 * (which the caller then accepts as parameters) and the modules they replace. Throws naming the
 * first problem. Borrows.
 */
export function checkFactors(
  params: Record<string, np.Array>,
  shapes: Record<string, number[]>,
): { names: Set<string>; modules: Set<string> } {
  const names = new Set<string>();
  const modules = new Set<string>();
  for (const name of Object.keys(params)) {
    const parsed = parseFactorName(name);
    if (parsed === undefined) continue;
    const { module } = parsed;
    const dense = shapes[`${module}.weight`];
    if (dense === undefined)
      throw new TypeError(`unexpected parameter ${name} (no module ${module})`);
    if (modules.has(module)) continue;
    const a = params[`${module}.${LOW_RANK_A}`];
    const b = params[`${module}.${LOW_RANK_B}`];
    if (a === undefined || b === undefined) {
      const missing = a === undefined ? LOW_RANK_A : LOW_RANK_B;
      throw new TypeError(`parameter ${module}.${missing} is missing (factors come in pairs)`);
    }
    const [out, inp] = dense as [number, number];
    const r = a.shape[0]!;
    const ok =
      a.ndim === 2 &&
      b.ndim === 2 &&
      a.shape[1] === inp &&
      b.shape[0] === out &&
      b.shape[1] === r &&
      r >= 1 &&
      r <= Math.min(out, inp);
    if (!ok) {
      throw new RangeError(
        `factors of ${module} have shapes A [${a.shape}], B [${b.shape}]; expected A [r, ${inp}], B [${out}, r] with 1 ≤ r ≤ ${Math.min(out, inp)}`,
      );
    }
    modules.add(module);
    names.add(`${module}.${LOW_RANK_A}`);
    names.add(`${module}.${LOW_RANK_B}`);
  }
  return { names, modules };
}

/**
 * y = x Wᵀ + (x Aᵀ) Bᵀ over the last axis of x (W may be undefined: factors only). Consumes all
 * arrays. Two thin matmuls; B A is never formed.
 */
export function factoredLinear(
  x: np.Array,
  w: np.Array | undefined,
  a: np.Array,
  b: np.Array,
): np.Array {
  const inp = a.shape[1]!;
  const out = b.shape[0]!;
  const lead = x.shape.slice(0, -1);
  const flat = x.reshape([-1, inp]);
  // jax-js 0.1.25's matmul is 10–20× slower when its contiguous right operand's width is not a
  // multiple of 4 (here x·Aᵀ has width r; measured on [1024, 352] inputs to 128 outputs: rank 33
  // 23–28 ms, rank 32 1.4–2.6 ms, dense 8–16 ms). Such ranks go the transposed way,
  // yᵀ = B (A xᵀ), whose widths are the token count (rank 33: 1.9–6 ms).
  const low =
    a.shape[0]! % 4 === 0
      ? np.matmul(np.matmul(w ? flat.ref : flat, a.transpose()), b.transpose())
      : np.matmul(b, np.matmul(a, (w ? flat.ref : flat).transpose())).transpose();
  const y = w ? np.matmul(flat, w.transpose()).add(low) : low;
  return y.reshape([...lead, out]);
}

/**
 * The parameters with every factored module made dense again: `<m>.weight` = W + B A (B A when
 * there was no W), factors removed. Other entries move over unchanged. Consumes `params`.
 */
export function densifyLowRank(params: Record<string, np.Array>): Record<string, np.Array> {
  const modules = new Set<string>();
  for (const name of Object.keys(params)) {
    const parsed = parseFactorName(name);
    if (parsed) modules.add(parsed.module);
  }
  if (modules.size === 0) return params;
  for (const module of modules) {
    if (!params[`${module}.${LOW_RANK_A}`] || !params[`${module}.${LOW_RANK_B}`]) {
      for (const p of Object.values(params)) p.dispose();
      throw new TypeError(`module ${module} has one factor only (factors come in pairs)`);
    }
  }
  const out: Record<string, np.Array> = {};
  for (const [name, a] of Object.entries(params)) if (!parseFactorName(name)) out[name] = a;
  for (const module of modules) {
    const product = np.matmul(
      params[`${module}.${LOW_RANK_B}`]!,
      params[`${module}.${LOW_RANK_A}`]!,
    );
    const w = out[`${module}.weight`];
    out[`${module}.weight`] = w ? w.add(product) : product;
  }
  return out;
}
