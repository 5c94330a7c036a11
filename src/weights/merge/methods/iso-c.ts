/**
 * iso_c: isotropic merging in the common subspace. Rule, for a 2-D tensor: Δ = Σ_t τ_t
 * (τ_t = X_t − base); Δ = U Σ Vᵀ; Σ is replaced by σ̄·I, σ̄ the mean of Δ's k = min(m, n)
 * singular values; result = base + α·σ̄·U Vᵀ. Other tensors: base + α·mean_t τ_t.
 *
 * Paper: Marczak et al. 2025, "No Task Left Behind: Isotropic Model Merging with Common and
 * Task-Specific Subspaces". Reference: danielm1405/iso-merging src/utils/iso.py `iso_c` (read, not
 * copied) and src/eval (merged = pretrained + α·Δ_iso, α searched in (0, 3] on validation data).
 * Parameters: alpha (global, default 1).
 * Deviation: singular directions of Δ with σ ≤ max(m, n)·ε₃₂·σ_max (a rank-deficient Δ) are left
 * out: the reference gives them σ̄ too, along whatever completion torch's SVD returns; the mean σ̄
 * is over all k values, as there. For a full-rank Δ the two agree.
 */
import { numpy as np } from "@jax-js/jax";
import { svd } from "../../../linalg/svd.js";
import type { MergeInput, MergeMethod, MergeParam } from "../method.js";

/** float32's machine epsilon (2⁻²³). */
const EPS32 = 1.1920929e-7;

/** The number of singular values (descending) above the numerical-rank tolerance. */
export function numericalRank(s: Float32Array | Float64Array, m: number, n: number): number {
  const tol = Math.max(m, n) * EPS32 * (s[0] ?? 0);
  let r = 0;
  while (r < s.length && s[r]! > tol) r++;
  return r;
}

/** The orthonormal polar factor A Bᵀ of X = A Σ Bᵀ (the nearest matrix with orthonormal columns or rows). Consumes x. */
export function polar(x: np.Array): np.Array {
  const { u, s, vt } = svd(x);
  s.dispose();
  return np.matmul(u, vt);
}

/** The global `alpha` both isotropic methods take. */
export const ALPHA: MergeParam = {
  name: "alpha",
  default: 1,
  perModel: false,
  check: (v) => (Number.isFinite(v) ? undefined : "must be a finite number"),
};

/** base + α·mean_t τ_t: what both isotropic methods do with tensors that are not matrices. */
export function averageTaskVectors(input: MergeInput): np.Array {
  const base = input.base!;
  const alpha = Number(input.params.alpha);
  const n = input.tensors.length;
  if (n === 0) return base;
  const sum = input.tensors.map((x) => np.subtract(x, base.ref)).reduce((s, x) => np.add(s, x));
  return np.add(base, np.multiply(sum, alpha / n));
}

/** σ̄·U Vᵀ of Δ (consumed), over Δ's numerical rank. */
export function isotropic(delta: np.Array): np.Array {
  const [m, n] = delta.shape as [number, number];
  const { u, s, vt } = svd(delta);
  const values = s.dataSync() as Float32Array;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const r = numericalRank(values, m, n);
  // σ̄ on the kept directions, 0 on the rest: (U·w) Vᵀ needs no slicing.
  const w = new Float32Array(values.length);
  w.fill(mean, 0, r);
  return np.matmul(np.multiply(u, np.array(w)), vt);
}

export const isoC: MergeMethod = {
  name: "iso_c",
  base: "required",
  params: [ALPHA],
  merge(input) {
    const { tensors } = input;
    if (input.base!.shape.length !== 2 || tensors.length === 0) return averageTaskVectors(input);
    const base = input.base!;
    const delta = tensors.map((x) => np.subtract(x, base.ref)).reduce((s, x) => np.add(s, x));
    return np.add(base, np.multiply(isotropic(delta), Number(input.params.alpha)));
  },
};
