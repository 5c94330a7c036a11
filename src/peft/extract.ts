/**
 * A PEFT LoRA adapter from weight updates by truncated SVD: `adapter convert --to lora` (any
 * adapter's ΔW, ./delta.ts) and `--from-models base tuned` (ΔW = W_tuned − W_base), as PEFT's
 * convert_to_lora (huggingface/peft src/peft/tuners/lora/conversion.py) and mergekit's
 * mergekit-extract-lora (arcee-ai/mergekit mergekit/scripts/extract_lora.py), read not copied.
 *
 * Rule per module: ΔW = U·diag(σ)·Vᵀ (src/linalg/svd.ts, float64 on the host); keep k pairs,
 * B = U_k·diag(√σ_k), A = diag(√σ_k)·V_kᵀ (mergekit's default "distribute scale"; PEFT's
 * convert_to_lora puts all of σ into B — the product B·A is the same). k is `rank`, or with
 * `energy` e the smallest k with Σ_{i≤k} σᵢ² ≥ e·Σσᵢ² (PEFT's _find_cutoff_index). By
 * Eckart–Young B·A is the best rank-k approximation, and the relative Frobenius error is
 * √(Σ_{i>k} σᵢ²)/‖ΔW‖_F; the report gives the error measured on the factors written.
 * The token embedding's ΔE [vocab, dim] is written as PEFT's lora_embedding_A [k, vocab] and
 * lora_embedding_B [dim, k] (ΔE = (B·A)ᵀ).
 *
 * Config, as both references: scaling 1 (lora_alpha = r), r = the largest kept rank, modules
 * with another rank in rank_pattern and alpha_pattern (alpha = rank), target_modules the full
 * module names, use_rslora and use_dora false (a combined/converted rsLoRA or DoRA source must
 * not pass its flags on: peft#3449, peft#3761), init_lora_weights true. A converted adapter
 * keeps its modules_to_save tensors as they are (convert_to_lora does). A module whose ΔW is 0
 * is left out (reported with rank 0), as convert_to_lora leaves out rank-0 modules.
 *
 * --from-models follows mergekit-extract-lora's defaults: every 2-D decoder linear weight is
 * extracted; the token embedding and lm_head (its --no-embed-lora default) and every other
 * tensor (the norms, not Linear) are saved at full size from the tuned model as
 * modules_to_save, named by their last component as mergekit does (embed_tokens, lm_head,
 * input_layernorm, post_attention_layernorm, norm).
 *
 * An adapter whose ΔW comes as exact factors (LoRA) is factored through them
 * (factorizeProduct: QR of each factor, SVD of the small core), so a fixed rank above the
 * adapter's own rank r keeps r pairs (the others are zero).
 *
 * Deviations: a fixed rank above min(out, in) is clipped to it (mergekit clips; PEFT raises);
 * models whose tensor names or shapes differ are refused (mergekit truncates a grown
 * vocabulary); mergekit's default max rank 128 is not assumed: a rank or energy is required.
 */
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../engine/errors.js";
import { qr } from "../linalg/qr.js";
import { svd } from "../linalg/svd.js";
import type { LlamaParams } from "../nn/llama.js";
import { loraConfig } from "./config.js";
import type { AdapterDelta, DeltaModule } from "./delta.js";
import type { AdapterParams } from "./effective.js";
import type { Adapter } from "./files.js";
import { EMBEDDING_MODULES, OUTPUT_MODULES } from "./match.js";

/** How many singular pairs to keep: a fixed rank, or an energy share. */
export type RankRule = { rank: number } | { energy: number };

/** Check a rank rule; a one-line UsageError names the problem and the accepted values. */
export function checkRankRule(rule: RankRule): void {
  if ("rank" in rule) {
    if (!Number.isInteger(rule.rank) || rule.rank < 1)
      throw new UsageError(`rank ${rule.rank} is not accepted (a positive integer)`);
  } else if (!(rule.energy > 0 && rule.energy <= 1)) {
    throw new UsageError(`energy ${rule.energy} is not accepted (a number in (0, 1])`);
  }
}

/** The smallest k with Σ_{i≤k} σᵢ² ≥ energy·Σσᵢ² (σ descending); at least 1. */
export function energyRank(s: ArrayLike<number>, energy: number): number {
  let total = 0;
  for (let i = 0; i < s.length; i++) total += s[i] * s[i];
  const cutoff = energy * total;
  let sum = 0;
  for (let i = 0; i < s.length; i++) {
    sum += s[i] * s[i];
    if (sum >= cutoff) return i + 1;
  }
  return s.length;
}

/** The rank a rule keeps of singular values `s` (a fixed rank is clipped to s.length). */
export function chooseRank(s: ArrayLike<number>, rule: RankRule): number {
  return "rank" in rule ? Math.min(rule.rank, s.length) : energyRank(s, rule.energy);
}

/** Truncated-SVD factors of a matrix: m = left·right, left [rows, k], right [k, cols]. */
export interface Factors {
  left: np.Array;
  right: np.Array;
  rank: number;
  /** All singular values, descending. */
  singular: Float64Array;
}

/** Factor `m` (consumed) to the rank the rule chooses: left = U_k√σ_k, right = √σ_k V_kᵀ. */
export function factorize(m: np.Array, rule: RankRule): Factors {
  const { u, s, vt } = svd(m);
  const singular = Float64Array.from(s.ref.dataSync() as Float32Array);
  const k = chooseRank(singular, rule);
  const root = np.sqrt(s.slice([0, k]));
  const left = u.slice([], [0, k]).mul(root.ref.reshape([1, k]));
  const right = vt.slice([0, k]).mul(root.reshape([k, 1]));
  return { left, right, rank: k, singular };
}

/**
 * {@link factorize} of a product ΔW = left·right (left [m, r], right [r, n], consumed) without
 * the m×n SVD: left = Q₁R₁ and rightᵀ = Q₂R₂ (reduced QR, src/linalg/qr.ts), the r×r core
 * R₁R₂ᵀ = U·diag(σ)·Vᵀ, so ΔW = (Q₁U)·diag(σ)·(Q₂V)ᵀ and σ are ΔW's singular values (at most r
 * nonzero; a fixed rank above r keeps r). O((m + n)·r²) instead of O(m·n·min(m, n)). When
 * r ≥ min(m, n) the product is formed and factored densely.
 */
export function factorizeProduct(left: np.Array, right: np.Array, rule: RankRule): Factors {
  const [m, r] = left.shape;
  const n = right.shape[1];
  if (r >= Math.min(m, n)) return factorize(np.matmul(left, right), rule);
  const a = qr(left);
  const b = qr(right.transpose());
  let core: ReturnType<typeof svd>;
  try {
    core = svd(np.matmul(a.r, b.r.transpose()));
  } catch (error) {
    a.q.dispose();
    b.q.dispose();
    throw error;
  }
  const { u, s, vt } = core;
  const singular = Float64Array.from(s.ref.dataSync() as Float32Array);
  const k = chooseRank(singular, rule);
  const root = np.sqrt(s.slice([0, k]));
  const outLeft = np.matmul(a.q, u.slice([], [0, k])).mul(root.ref.reshape([1, k]));
  const outRight = np.matmul(vt.slice([0, k]), b.q.transpose()).mul(root.reshape([k, 1]));
  return { left: outLeft, right: outRight, rank: k, singular };
}

/** ‖target − left·right‖_F / ‖target‖_F (0 when the target is 0). Borrows all three. */
export function relativeError(target: np.Array, left: np.Array, right: np.Array): number {
  const diff = target.ref.sub(np.matmul(left.ref, right.ref));
  const num = Math.sqrt(np.sum(np.square(diff)).dataSync()[0]);
  const den = Math.sqrt(np.sum(np.square(target.ref)).dataSync()[0]);
  return den === 0 ? (num === 0 ? 0 : Infinity) : num / den;
}

/** One module of a LoRA adapter to write: ΔW = left·right in the base layout. */
export interface FactoredModule {
  name: string;
  kind: DeltaModule["kind"];
  left: np.Array;
  right: np.Array;
}

/** Free factored modules (a failure midway). */
export function disposeFactors(modules: FactoredModule[]): void {
  for (const m of modules) {
    m.left.dispose();
    m.right.dispose();
  }
}

/** Options of {@link loraFromFactors}. */
export interface LoraFromFactorsOptions {
  /** Full tensors replacing base tensors (HF name → tensor); moved into the adapter. */
  saved?: Record<string, np.Array>;
  modulesToSave?: string[] | null;
  baseModel?: string | null;
}

/**
 * A PEFT LoRA adapter with scaling 1 whose ΔW per module is left·right (config as the file
 * header says). Takes ownership of every factor and saved tensor.
 */
export function loraFromFactors(
  modules: FactoredModule[],
  options: LoraFromFactorsOptions = {},
): Adapter {
  if (modules.length === 0) {
    for (const a of Object.values(options.saved ?? {})) a.dispose();
    throw new UsageError("every module's update is 0: there is no adapter to write");
  }
  const ranks = modules.map((m) => m.left.shape[1]);
  const r = Math.max(...ranks);
  const pattern: Record<string, number> = {};
  modules.forEach((m, i) => {
    if (ranks[i] !== r) pattern[m.name] = ranks[i];
  });
  const params: AdapterParams = {};
  for (const m of modules) {
    if (m.kind === "embedding") {
      params[`${m.name}.lora_embedding_A`] = m.left.transpose();
      params[`${m.name}.lora_embedding_B`] = m.right.transpose();
    } else {
      params[`${m.name}.lora_B.weight`] = m.left;
      params[`${m.name}.lora_A.weight`] = m.right;
    }
  }
  for (const [k, a] of Object.entries(options.saved ?? {})) params[k] = a;
  const config = loraConfig({
    r,
    loraAlpha: r,
    targetModules: modules.map((m) => m.name),
    rankPattern: pattern,
    alphaPattern: { ...pattern },
    modulesToSave: options.modulesToSave ?? null,
    baseModelNameOrPath: options.baseModel ?? null,
    initLoraWeights: true,
  });
  return { config, params };
}

/** Per module: the kept rank and the relative Frobenius error of the written ΔW. */
export interface ModuleReport {
  name: string;
  rank: number;
  error: number;
}

/** A written adapter (the caller owns its tensors) and its per-module report. */
export interface ExtractedLora {
  adapter: Adapter;
  report: ModuleReport[];
}

/**
 * Factor one module's ΔW (consumed) and measure the error against it; null for ΔW = 0. With
 * `product` (exact factors of ΔW, consumed) the SVD runs on them ({@link factorizeProduct}).
 */
export function factorModule(
  m: { name: string; kind: DeltaModule["kind"] },
  delta: np.Array,
  rule: RankRule,
  product?: { left: np.Array; right: np.Array },
): { module: FactoredModule | null; report: ModuleReport } {
  let f: Factors;
  try {
    f = product ? factorizeProduct(product.left, product.right, rule) : factorize(delta.ref, rule);
  } catch (error) {
    delta.dispose();
    if (error instanceof RangeError && /NaN or Inf/.test(error.message))
      throw new UsageError(
        `the update of ${m.name} has NaN or infinite entries: nothing to convert`,
      );
    throw error;
  }
  if (!(f.singular[0] > 0)) {
    // ΔW = 0: nothing to write (PEFT's convert_to_lora leaves rank-0 modules out too).
    for (const a of [delta, f.left, f.right]) a.dispose();
    return { module: null, report: { name: m.name, rank: 0, error: 0 } };
  }
  const error = relativeError(delta, f.left, f.right);
  delta.dispose();
  return {
    module: { name: m.name, kind: m.kind, left: f.left, right: f.right },
    report: { name: m.name, rank: f.rank, error },
  };
}

/**
 * Any adapter → a LoRA adapter by truncated SVD of each module's ΔW. `base` (HF name → tensor,
 * borrowed) is needed when `delta.needsBase` (DoRA). Borrows `delta`.
 */
export function convertAdapter(
  delta: AdapterDelta,
  rule: RankRule,
  base?: Record<string, np.Array>,
): ExtractedLora {
  checkRankRule(rule);
  if (delta.needsBase && base === undefined) {
    throw new UsageError(
      `${delta.source} is a ${delta.type} adapter: its ΔW depends on the base weights; give the base model (--model)`,
    );
  }
  const modules: FactoredModule[] = [];
  const report: ModuleReport[] = [];
  try {
    for (const m of delta.modules) {
      const w = delta.needsBase ? base?.[`${m.name}.weight`] : undefined;
      const out = factorModule(m, delta.delta(m.name, w), rule, delta.lowRank(m.name));
      if (out.module) modules.push(out.module);
      report.push(out.report);
    }
  } catch (error) {
    disposeFactors(modules);
    throw error;
  }
  const saved = Object.fromEntries(Object.entries(delta.saved).map(([k, a]) => [k, a.ref]));
  const adapter = loraFromFactors(modules, {
    saved,
    modulesToSave: delta.modulesToSave,
    baseModel: delta.baseModel,
  });
  return { adapter, report };
}

/** Whether an HF tensor name is a decoder Linear weight mergekit-extract-lora decomposes. */
function isDecomposable(key: string, shape: number[]): boolean {
  const module = key.replace(/\.weight$/, "");
  return (
    key.endsWith(".weight") &&
    shape.length === 2 &&
    !EMBEDDING_MODULES.includes(module) &&
    !OUTPUT_MODULES.includes(module)
  );
}

/**
 * A LoRA adapter from two full models, ΔW = tuned − base per decoder Linear (mergekit's
 * defaults, see the file header). Borrows both parameter records.
 */
export function extractLora(
  base: LlamaParams,
  tuned: LlamaParams,
  rule: RankRule,
  options: { baseModel?: string | null } = {},
): ExtractedLora {
  checkRankRule(rule);
  const keys = Object.keys(tuned);
  for (const k of keys) {
    const b = base[k];
    if (b === undefined)
      throw new UsageError(`the tuned model has ${k}, which the base model lacks`);
    const t = tuned[k];
    if (b.shape.length !== t.shape.length || b.shape.some((d, i) => d !== t.shape[i]))
      throw new UsageError(
        `${k} is [${t.shape}] in the tuned model but [${b.shape}] in the base model: the models must share an architecture`,
      );
  }
  const extra = Object.keys(base).find((k) => tuned[k] === undefined);
  if (extra !== undefined)
    throw new UsageError(`the base model has ${extra}, which the tuned model lacks`);
  const modules: FactoredModule[] = [];
  const report: ModuleReport[] = [];
  const saved: Record<string, np.Array> = {};
  const toSave: string[] = [];
  try {
    for (const k of keys) {
      if (isDecomposable(k, tuned[k].shape)) {
        const name = k.slice(0, -".weight".length);
        const out = factorModule({ name, kind: "linear" }, tuned[k].ref.sub(base[k].ref), rule);
        if (out.module) modules.push(out.module);
        report.push(out.report);
      } else {
        saved[k] = tuned[k].ref;
        const module = k.replace(/\.(weight|bias)$/, "");
        const last = module.split(".").at(-1) ?? module;
        if (!toSave.includes(last)) toSave.push(last);
      }
    }
  } catch (error) {
    disposeFactors(modules);
    for (const a of Object.values(saved)) a.dispose();
    throw error;
  }
  const adapter = loraFromFactors(modules, {
    saved,
    modulesToSave: toSave.length > 0 ? toSave : null,
    baseModel: options.baseModel ?? null,
  });
  return { adapter, report };
}
