/**
 * orthogonal_continual: training-free continual merging by orthogonal projection (OPCM). The
 * models are taken one at a time, in list order; τ_t = X_t − base. The running sum starts at
 * S₁ = τ₁, and for t = 2..T:
 *   - a linear weight (2-D, not the token embedding): S_{t−1} = U Σ Vᵀ (full bases); r = the first
 *     index at which Σ's cumulative share Σ_{i≤r} σ_i / Σ σ exceeds alpha; P = Uᵀ τ_t V with its
 *     diagonal and its top-left r×r block set to 0 (the parts of τ_t along S's own singular pairs
 *     and inside its dominant subspace); S_t = S_{t−1} + U P Vᵀ;
 *   - any other tensor: S_t = S_{t−1} + τ_t.
 * Adaptive scaling: result = base + S_T · mean_t ‖τ_t‖ / ‖S_T‖, both norms over the whole model
 * (every tensor), which keeps the merged task vector as long as the average task vector.
 *
 * Paper: Tang et al. 2025, "Merging Models on the Fly Without Retraining: A Sequential Approach
 * to Scalable Continual Model Merging" (arXiv 2501.09522). Reference: tanganke/opcm
 * fusion_bench/method/opcm/opcm.py `OPCMForCLIP` (read, not copied): its per-step rescaling by
 * λ_t = ‖·‖/avg norm is undone at the next step (λ_{t−1}·(S_{t−1}/λ_{t−1})), so only the last
 * one matters and the projections see S_{t−1} up to scale, as here; nn.Linear weights are
 * projected, embeddings and the rest added. Parameters: alpha (global, in [0, 1], default 0.5 as
 * config/method/opcm/opcm.yaml).
 * Order matters (the paper reports the spread over orderings); the reference shuffles the models
 * by default, here they are taken in list order.
 * Streaming: the whole-model norms need a first pass (`scan`) that runs the same recurrence for
 * every tensor, so the projections are computed twice; memory stays one tensor of each model.
 * With `slices`, the norms add up the i-th model of every slice as model i.
 */
import { numpy as np } from "@jax-js/jax";
import { svd } from "../../../linalg/svd.js";
import type { MergeInput, MergeMethod } from "../method.js";

const isProjected = (name: string, shape: number[]) =>
  shape.length === 2 && name !== "model.embed_tokens.weight";

/** The first index r at which the cumulative share of `s` exceeds alpha (0 when none does). */
export function splitRank(s: Float32Array | Float64Array, alpha: number): number {
  let total = 0;
  for (let i = 0; i < s.length; i++) total += s[i]!;
  let cum = 0;
  for (let i = 0; i < s.length; i++) {
    cum += s[i]!;
    if (cum / total > alpha) return i;
  }
  return 0;
}

/**
 * τ with its components along S's singular pairs (i, i) and inside S's top r×r block removed.
 * In S's full bases that is U (P ∘ keep) Vᵀ with P = Uᵀ τ V; every removed entry lies in the
 * k×k corner (k = min(m, n)), so it equals τ − U_k (P_k ∘ removed) V_kᵀ with the thin SVD, which
 * never forms an m×m or n×n basis (an lm_head's would be vocabulary²). Consumes both.
 */
export function projectOut(sum: np.Array, tau: np.Array, alpha: number): np.Array {
  const { u, s, vt } = svd(sum);
  const k = s.shape[0]!;
  const r = splitRank(s.dataSync() as Float32Array, alpha);
  const corner = new Float32Array(k).fill(1, 0, r);
  const block = np.multiply(np.array(corner).reshape([k, 1]), np.array(corner).reshape([1, k]));
  const removed = np.maximum(np.eye(k), block);
  const p = np.matmul(np.matmul(u.ref.transpose(), tau.ref), vt.ref.transpose());
  return np.subtract(tau, np.matmul(np.matmul(u, np.multiply(p, removed)), vt));
}

const squaredNorm = (x: np.Array): number => (np.square(x).sum().dataSync() as Float32Array)[0]!;

/** S_T and ‖τ_t‖² of one tensor. Consumes the input's arrays. */
function runningSum(input: MergeInput): { sum: np.Array; tauSq: number[] } {
  const base = input.base!;
  const alpha = Number(input.params.alpha);
  const taus = input.tensors.map((x) => np.subtract(x, base.ref));
  base.dispose();
  const tauSq = taus.map((t) => squaredNorm(t.ref));
  const project = isProjected(input.name, taus[0]!.shape);
  let sum = taus[0]!;
  for (const tau of taus.slice(1)) {
    sum = np.add(sum.ref, project ? projectOut(sum, tau, alpha) : tau);
  }
  return { sum, tauSq };
}

export const orthogonalContinual: MergeMethod = {
  name: "orthogonal_continual",
  base: "required",
  params: [
    {
      name: "alpha",
      default: 0.5,
      perModel: false,
      check: (v) => ((v as number) >= 0 && (v as number) <= 1 ? undefined : "must be in [0, 1]"),
    },
  ],
  scan(input) {
    if (input.tensors.length === 0) {
      input.base!.dispose();
      return {};
    }
    const { sum, tauSq } = runningSum(input);
    const out: Record<string, number> = { sum: squaredNorm(sum) };
    tauSq.forEach((v, i) => {
      out[`tau${i}`] = v;
    });
    return out;
  },
  merge(input) {
    const base = input.base!;
    if (input.tensors.length === 0) return base;
    const totals = input.totals;
    if (totals === undefined) throw new Error("orthogonal_continual: merge before scan");
    const { sum } = runningSum({ ...input, base: base.ref });
    const count = input.tensors.length;
    let average = 0;
    for (let i = 0; i < count; i++) average += Math.sqrt(totals[`tau${i}`]!) / count;
    const norm = Math.sqrt(totals.sum!);
    // Every task vector zero: nothing to add.
    if (!(norm > 0)) {
      sum.dispose();
      return base;
    }
    return np.add(base, np.multiply(sum, average / norm));
  },
};
