/**
 * POME: a Muon-style projection of what fine-tuning changed in a weight matrix.
 *
 *   ΔW = W_tuned − W_base = U diag(σ) Vᵀ              (σ descending)
 *   ΔW' = α · c · U_k V_kᵀ                            (the top k singular pairs, σ equalised)
 *   W = W_base + ΔW'
 *
 * with c the level every kept singular value is set to: "mean" (default) c = mean(σ_1..σ_k),
 * so ΔW' = U_k diag(σ̄) V_kᵀ; "frobenius" c = ‖σ_1..k‖₂/√k, so ‖ΔW'‖_F = ‖U_k Σ_k V_kᵀ‖_F;
 * "spectral" c = σ_1 (Muon's unit-spectral-norm step scaled to ΔW's own norm). α (`scale`,
 * default 1) is the paper's grid-searched multiplier. k is `rank`, or the smallest k keeping
 * `energy` of Σσ², or ⌊ratio · rank(ΔW)⌋ (default ratio 0.5, the paper's choice; rank(ΔW) counts
 * σ_i > σ_1 · max(m, n) · 2⁻²³). A zero ΔW stays zero.
 *
 * Paper: Liu et al. 2025, "POME: Post Optimization Model Edit via Muon-style Projection"
 * (arXiv 2510.06627). Reference: NUS-HPC-AI-Lab/POME is not stored where this project could read
 * it, so the rule follows the paper's abstract and its reviews (truncated SVD, equalised
 * singular values, rank ratio 0.5, a scale α, FFN up-projections edited by default).
 * Deviations: the level c is explicit and selectable (the paper folds it into α); the SVD is
 * src/linalg's accurate host SVD in float64 (jax-js's loses orthogonality).
 */
import { numpy as np } from "@jax-js/jax";
import { svd } from "../../linalg/index.js";

/** How the kept singular values are equalised (the level c above). */
export const POME_NORMS = ["mean", "frobenius", "spectral"] as const;
/** One of {@link POME_NORMS}: the level the kept singular values are set to. */
export type PomeNorm = (typeof POME_NORMS)[number];

/** Options of {@link pomeDelta}: at most one of rank, energy, ratio. */
export interface PomeOptions {
  /** Keep exactly this many singular pairs (capped at min(m, n)). */
  rank?: number;
  /** Keep the fewest pairs holding this share of Σσ², in (0, 1]. */
  energy?: number;
  /** Keep ⌊ratio · rank(ΔW)⌋ pairs (at least 1), in (0, 1]. Default 0.5. */
  ratio?: number;
  /** α, the multiplier of the equalised update. Default 1. */
  scale?: number;
  /** The level c. Default "mean". */
  norm?: PomeNorm;
}

/** What {@link pomeDelta} kept. */
export interface PomeInfo {
  /** Singular pairs kept (0 for a zero ΔW). */
  rank: number;
  /** rank(ΔW) as counted above. */
  fullRank: number;
  /** The level c times α every kept singular value became. */
  level: number;
}

/** Throws a RangeError naming the bad option. */
export function checkPomeOptions(o: PomeOptions): void {
  const given = (["rank", "energy", "ratio"] as const).filter((k) => o[k] !== undefined);
  if (given.length > 1) {
    throw new RangeError(`give one of rank, energy, ratio; got ${given.join(" and ")}`);
  }
  if (o.rank !== undefined && !(Number.isSafeInteger(o.rank) && o.rank >= 1)) {
    throw new RangeError(`rank must be an integer ≥ 1, got ${o.rank}`);
  }
  for (const k of ["energy", "ratio"] as const) {
    const v = o[k];
    if (v !== undefined && !(v > 0 && v <= 1)) {
      throw new RangeError(`${k} must be a number in (0, 1], got ${v}`);
    }
  }
  if (o.scale !== undefined && !Number.isFinite(o.scale)) {
    throw new RangeError(`scale must be a finite number, got ${o.scale}`);
  }
  if (o.norm !== undefined && !POME_NORMS.includes(o.norm)) {
    throw new RangeError(`norm must be one of ${POME_NORMS.join(", ")}, got ${o.norm}`);
  }
}

/** How many pairs to keep, from the singular values (descending). */
function keptRank(s: Float64Array, m: number, n: number, o: PomeOptions): [number, number] {
  const tol = (s[0] ?? 0) * Math.max(m, n) * 2 ** -23;
  let full = 0;
  while (full < s.length && s[full] > tol) full++;
  if (full === 0) return [0, 0];
  if (o.rank !== undefined) return [Math.min(o.rank, full), full];
  if (o.energy !== undefined) {
    let total = 0;
    for (let i = 0; i < full; i++) total += s[i] * s[i];
    let acc = 0;
    for (let k = 0; k < full; k++) {
      acc += s[k] * s[k];
      if (acc >= o.energy * total * (1 - 1e-12)) return [k + 1, full];
    }
    return [full, full];
  }
  return [Math.max(1, Math.floor((o.ratio ?? 0.5) * full)), full];
}

/** The equalised, truncated ΔW' of a 2-D ΔW (float32). Consumes `delta`. */
export function pomeDelta(delta: np.Array, options: PomeOptions = {}): [np.Array, PomeInfo] {
  checkPomeOptions(options);
  if (delta.ndim !== 2) {
    const shape = delta.shape;
    delta.dispose();
    throw new RangeError(`POME edits 2-D weights, got shape [${shape}]`);
  }
  const [m, n] = delta.shape;
  const dtype = delta.dtype;
  const { u, s, vt } = svd(delta.astype(np.float32));
  const sv = Float64Array.from(s.dataSync() as Float32Array);
  const [k, full] = keptRank(sv, m, n, options);
  if (k === 0) {
    u.dispose();
    vt.dispose();
    return [np.zeros([m, n], { dtype }), { rank: 0, fullRank: 0, level: 0 }];
  }
  const kept = sv.subarray(0, k);
  const norm = options.norm ?? "mean";
  let c: number;
  if (norm === "mean") c = kept.reduce((a, b) => a + b, 0) / k;
  else if (norm === "frobenius") c = Math.sqrt(kept.reduce((a, b) => a + b * b, 0) / k);
  else c = kept[0];
  const level = c * (options.scale ?? 1);
  const out = np.matmul(u.slice([], [0, k]), vt.slice([0, k], [])).mul(level);
  return [out.astype(dtype), { rank: k, fullRank: full, level }];
}

/** The weights POME edits by default: the FFN up-projections, as the paper does. */
export const POME_DEFAULT_MODULES = /mlp\.up_proj\.weight$/;

/**
 * W_base + ΔW' for every 2-D parameter whose name matches `modules`; the rest are the tuned
 * model's own. Consumes `base` and `tuned` (same names and shapes); returns new parameters and
 * what was kept per edited name. Throws a RangeError naming a mismatched or missing parameter.
 */
export function pomeParams(
  base: Record<string, np.Array>,
  tuned: Record<string, np.Array>,
  options: PomeOptions & { modules?: RegExp } = {},
): { params: Record<string, np.Array>; edited: Record<string, PomeInfo> } {
  const modules = options.modules ?? POME_DEFAULT_MODULES;
  const params: Record<string, np.Array> = {};
  const edited: Record<string, PomeInfo> = {};
  const names = Object.keys(tuned);
  try {
    checkPomeOptions(options);
    for (const name of names) {
      const b = base[name];
      const t = tuned[name];
      if (b === undefined) throw new RangeError(`${name} is in the tuned model but not the base`);
      if (b.shape.join() !== t.shape.join()) {
        throw new RangeError(`${name}: base [${b.shape}] and tuned [${t.shape}] differ in shape`);
      }
    }
    for (const name of names) {
      if (t2d(tuned[name]) && modules.test(name)) {
        const [delta, info] = pomeDelta(tuned[name].ref.sub(base[name].ref), options);
        params[name] = base[name].ref.add(delta);
        edited[name] = info;
      } else params[name] = tuned[name].ref;
    }
  } catch (error) {
    for (const a of Object.values(params)) a.dispose();
    throw error;
  } finally {
    for (const a of [...Object.values(base), ...Object.values(tuned)]) a.dispose();
  }
  return { params, edited };
}

const t2d = (a: np.Array) => a.ndim === 2;
