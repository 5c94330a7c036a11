/**
 * iso_cts: isotropic merging with common and task-specific subspaces. Rule, for an m×n tensor
 * with k = min(m, n) and T task vectors τ_t = X_t − base:
 *   1. Δ = Σ τ_t = U Σ Vᵀ; the common subspace is Δ's top c directions, with
 *      c = k − round((k − ⌊k·f⌋)/T)·T (f = common_space_fraction), so that the remaining
 *      k − c directions split evenly, s = (k − c)/T per task;
 *   2. each task's part outside the common left subspace, τ_t − U_c U_cᵀ τ_t, gives its top s
 *      singular triplets;
 *   3. the c common and T·s task-specific left (right) vectors, side by side, are replaced by
 *      their orthonormal polar factor; all k singular values by their mean σ̄;
 *   4. result = base + α·σ̄·U⊥ V⊥ᵀ.
 * Other tensors: base + α·mean_t τ_t (the reference's running average).
 *
 * Paper: Marczak et al. 2025, "No Task Left Behind: Isotropic Model Merging with Common and
 * Task-Specific Subspaces". Reference: danielm1405/iso-merging src/utils/iso.py `iso_cts` and
 * config/method/iso_cts.yaml (common_space_fraction 0.8), read, not copied.
 * Parameters: alpha (global, default 1), common_space_fraction (global, in [0, 1], default 0.8).
 * With one task the common and task-specific directions are Δ's own singular vectors, so the
 * result equals iso_c's.
 * Deviations: as iso_c, directions whose singular value is numerically zero (below
 * max(m, n)·ε₃₂·σ_max of their own decomposition) are left out (the reference keeps SVD's
 * arbitrary completions), σ̄ still averaging all k slots; c is clamped at 0 in the degenerate case
 * where rounding would make it negative (the reference would slice from the end).
 */
import { numpy as np } from "@jax-js/jax";
import { svd } from "../../../linalg/svd.js";
import type { MergeMethod } from "../method.js";
import { ALPHA, averageTaskVectors, numericalRank, polar } from "./iso-c.js";

/** The common subspace size c and the per-task size s for k directions and T tasks. */
export function isoSplit(
  k: number,
  tasks: number,
  fraction: number,
): { common: number; perTask: number } {
  const floor = Math.floor(k * fraction);
  // Python's round: half to even.
  const q = (k - floor) / tasks;
  const r = Math.round(q);
  const rounded = Math.abs(q % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  const common = Math.max(0, k - rounded * tasks);
  return { common, perTask: Math.floor((k - common) / tasks) };
}

export const isoCts: MergeMethod = {
  name: "iso_cts",
  base: "required",
  params: [
    ALPHA,
    {
      name: "common_space_fraction",
      default: 0.8,
      perModel: false,
      check: (v) => ((v as number) >= 0 && (v as number) <= 1 ? undefined : "must be in [0, 1]"),
    },
  ],
  merge(input) {
    const { tensors } = input;
    const base = input.base!;
    if (base.shape.length !== 2 || tensors.length === 0) return averageTaskVectors(input);
    const [m, n] = base.shape as [number, number];
    const k = Math.min(m, n);
    const taus = tensors.map((x) => np.subtract(x, base.ref));
    const { common, perTask } = isoSplit(
      k,
      taus.length,
      Number(input.params.common_space_fraction),
    );
    const delta = taus.slice(1).reduce((s, x) => np.add(s, x.ref), taus[0]!.ref);
    const whole = svd(delta);
    const all = whole.s.dataSync() as Float32Array;
    let sum = 0;
    const us: np.Array[] = [];
    const vts: np.Array[] = [];
    // The common part: Δ's top c triplets (those above Δ's numerical rank left out).
    const keepCommon = Math.min(common, numericalRank(all, m, n));
    for (let i = 0; i < common; i++) sum += all[i]!;
    const uc = common > 0 ? whole.u.ref.slice([], [0, common]) : undefined;
    if (keepCommon > 0) {
      us.push(whole.u.ref.slice([], [0, keepCommon]));
      vts.push(whole.vt.ref.slice([0, keepCommon], []));
    }
    whole.u.dispose();
    whole.vt.dispose();
    for (const tau of taus) {
      if (perTask === 0) {
        tau.dispose();
        continue;
      }
      // τ_t without its component in the common left subspace.
      const specific = uc
        ? np.subtract(tau.ref, np.matmul(uc.ref, np.matmul(uc.ref.transpose(), tau)))
        : tau;
      const t = svd(specific);
      const values = t.s.dataSync() as Float32Array;
      for (let i = 0; i < perTask; i++) sum += values[i]!;
      const keep = Math.min(perTask, numericalRank(values, m, n));
      if (keep > 0) {
        us.push(t.u.ref.slice([], [0, keep]));
        vts.push(t.vt.ref.slice([0, keep], []));
      }
      t.u.dispose();
      t.vt.dispose();
    }
    uc?.dispose();
    const mean = sum / k;
    if (us.length === 0) return np.add(base, np.zeros([m, n], { dtype: np.float32 }));
    const u = polar(np.concatenate(us, 1));
    const vt = polar(np.concatenate(vts, 0));
    return np.add(base, np.multiply(np.matmul(u, vt), mean * Number(input.params.alpha)));
  },
};
