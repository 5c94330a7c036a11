/**
 * DAMA: a projection of mid-upper MLP outputs against a bias direction, folded into down_proj.
 *
 *   for each edited layer l, lowest first (each measured on the model edited so far):
 *     o_a(i), o_b(i) = block l's down_proj output at the last token of the pair's texts a_i, b_i
 *     D = [o_a(i) − o_b(i)]_i                               (n×d: what the contrast changes)
 *     B = top-k right singular vectors of D                 (d×k: the bias directions)
 *     W_down ← (I − B Bᵀ) W_down                           ("after" projection, DAMA's default)
 *
 * so the MLP of layer l no longer writes anything along B, and the pair's down_proj outputs at
 * layer l differ by D (I − B Bᵀ): their gap along the bias directions is zero.
 *
 * Default layers: the mid-upper ones, ⌊2L/3⌋ … ⌈0.9L⌉ − 1 of L blocks (at least one), after the
 * paper's finding that the upper-middle feed-forward layers carry the bias (LLaMA 7B: 21–28).
 *
 * Paper: Limisiewicz, Mareček & Musil 2024, "Debiasing Algorithm through Model Adaptation"
 * (ICLR). Reference: tomlimi/DAMA src/dama/dama_main.py (apply_dama_on_module: W ← P W for
 * "after"; execute_dama: PLS between down_proj outputs and the contrast of optimised value
 * vectors gives B, M = I − P_B) — read, not copied. Deviations: B comes from the SVD of the
 * measured output differences of contrastive pairs, not from PLS against value vectors optimised
 * per prompt (no inner optimisation; the first PLS direction of outputs against ±1 pair labels
 * is the mean difference, which the top singular vector of D approximates when the pairs agree);
 * no covariance (mom2) adjustment; layers are edited iteratively as the reference's
 * "iterative" update does.
 */
import { numpy as np } from "@jax-js/jax";
import { float64Array } from "../../engine/float64.js";
import { svd } from "../../linalg/index.js";
import type { LlamaParams } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";
import { pooledStates } from "./hidden.js";

/** The mid-upper layers DAMA edits by default (see the header). */
export function damaDefaultLayers(layers: number): number[] {
  const first = Math.floor((2 * layers) / 3);
  const last = Math.max(first, Math.ceil(0.9 * layers) - 1);
  const out: number[] = [];
  for (let l = first; l <= Math.min(last, layers - 1); l++) out.push(l);
  return out;
}

/** The top-k right singular vectors of D (n×d row-major) as a d×k basis (k capped at rank). */
export function biasDirections(diffs: Float64Array, n: number, d: number, k: number): Float64Array {
  const { u, s, vt } = svd(float64Array(diffs, [n, d]));
  u.dispose();
  const sv = s.dataSync() as Float64Array;
  const tol = (sv[0] ?? 0) * Math.max(n, d) * 1e-12;
  let rank = 0;
  while (rank < sv.length && rank < k && sv[rank] > tol) rank++;
  const v = vt.dataSync() as Float64Array; // min(n, d) × d
  const out = new Float64Array(d * rank);
  for (let i = 0; i < d; i++) for (let j = 0; j < rank; j++) out[i * rank + j] = v[j * d + i];
  return out;
}

/** (I − B Bᵀ) W for W [d, f] and B d×r. Consumes `w`. */
export function projectOutputs(w: np.Array, basis: Float64Array): np.Array {
  const d = w.shape[0];
  const r = basis.length / d;
  if (r === 0) return w;
  const b = np.array(Float32Array.from(basis), { shape: [d, r], dtype: np.float32 });
  return w.ref.sub(np.matmul(b.ref, np.matmul(b.transpose(), w)));
}

/** Options of {@link dama}. */
export interface DamaOptions {
  /** Layers to edit. Default {@link damaDefaultLayers}. */
  layers?: number[];
  /** Bias directions per layer (k). Default 1. */
  rank?: number;
  /** Told after each layer. */
  onLayer?: (layer: number, info: DamaLayerInfo) => void;
}

/** What one layer's edit did, measured on the pairs. */
export interface DamaLayerInfo {
  /** Directions removed. */
  rank: number;
  /** ‖D‖_F before and after the projection (the pairs' down_proj output gap). */
  gapBefore: number;
  gapAfter: number;
}

/**
 * Edit `params` in place (replaced down_proj weights are disposed) from contrastive pairs of
 * token ids. Returns per-layer records.
 */
export function dama(
  params: LlamaParams,
  config: LlamaConfig,
  pairs: Array<[Int32Array, Int32Array]>,
  options: DamaOptions = {},
): Record<number, DamaLayerInfo> {
  const layers = [...(options.layers ?? damaDefaultLayers(config.num_hidden_layers))].sort(
    (a, b) => a - b,
  );
  const k = options.rank ?? 1;
  if (!(Number.isSafeInteger(k) && k >= 1))
    throw new RangeError(`rank must be an integer ≥ 1, got ${k}`);
  if (pairs.length === 0) throw new RangeError("DAMA needs at least one contrastive pair");
  const d = config.hidden_size;
  const n = pairs.length;
  const out: Record<number, DamaLayerInfo> = {};
  for (const layer of layers) {
    const opts = { layer, pool: "last" as const, at: "down_proj" as const };
    const a = pooledStates(
      params,
      config,
      pairs.map((p) => p[0]),
      opts,
    );
    const b = pooledStates(
      params,
      config,
      pairs.map((p) => p[1]),
      opts,
    );
    const diffs = a.map((v, i) => v - b[i]);
    const basis = biasDirections(diffs, n, d, k);
    const name = `model.layers.${layer}.mlp.down_proj.weight`;
    params[name] = projectOutputs(params[name], basis);
    const after = projectRowsHost(diffs, n, d, basis);
    const info = { rank: basis.length / d, gapBefore: norm(diffs), gapAfter: norm(after) };
    out[layer] = info;
    options.onLayer?.(layer, info);
  }
  return out;
}

const norm = (x: Float64Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0));

/** D (I − B Bᵀ) on the host (n×d, small). */
function projectRowsHost(x: Float64Array, n: number, d: number, basis: Float64Array): Float64Array {
  const r = basis.length / d;
  const out = Float64Array.from(x);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < r; j++) {
      let c = 0;
      for (let t = 0; t < d; t++) c += x[i * d + t] * basis[t * r + j];
      for (let t = 0; t < d; t++) out[i * d + t] -= c * basis[t * r + j];
    }
  }
  return out;
}
