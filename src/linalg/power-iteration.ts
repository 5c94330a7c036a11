/**
 * Power iteration for the top singular triplet (σ₁, u₁, v₁) of a matrix W (m×n), on the device:
 *   repeat k times:  u ← W·v / ‖W·v‖,  v ← Wᵀ·u / ‖Wᵀ·u‖
 *   then σ₁ ≈ ‖W·v‖,  u₁ = W·v / σ₁
 * Each iteration costs two matrix–vector products (no SVD), and started from the previous
 * interval's v (warm start) a few iterations follow a slowly moving σ₁. The estimate never
 * exceeds σ₁ and converges at the rate (σ₂/σ₁)^(2k). A tiny floor in the divisions keeps a zero
 * matrix at σ = 0 instead of NaN. Traceable (used inside jit by train/monitors/matrix-stats.ts and nn/regularizers/spectral.ts).
 */
import { numpy as np } from "@jax-js/jax";
import { Xoshiro128 } from "../engine/rng.js";

/** Keeps the normalisations finite on a zero matrix (a float32 normal number). */
export const TINY = 1e-30;

/** The top singular value (0-d), left (m×1) and right (n×1) vectors. */
export interface Triplet {
  sigma: np.Array;
  u: np.Array;
  v: np.Array;
}

/** `iterations` power steps from `v` (n×1). Consumes `v`; borrows `w`. */
export function topSingular(w: np.Array, v: np.Array, iterations: number): Triplet {
  let x = v;
  for (let k = 0; k < iterations; k++) {
    const wx = np.matmul(w.ref, x);
    const u = wx.ref.div(norm(wx).add(TINY));
    const wtu = np.matmul(w.ref.transpose(), u);
    x = wtu.ref.div(norm(wtu).add(TINY));
  }
  const wx = np.matmul(w.ref, x.ref);
  const sigma = norm(wx.ref);
  const u = wx.div(sigma.ref.add(TINY));
  return { sigma, u, v: x };
}

/** Frobenius norm as a 0-d array; consumes `a`. */
export const norm = (a: np.Array): np.Array => np.sqrt(a.ref.mul(a).sum());

/**
 * A fixed pseudo-random unit start vector (host, length n) for matrix number `index`: deterministic, and
 * almost surely not orthogonal to v₁ (a constant vector can be, e.g. for centred weights).
 */
export function startVector(n: number, index: number): Float32Array {
  const rng = Xoshiro128.fromSeed(0x5eed + index);
  const values = new Float32Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    values[i] = rng.nextUint32() / 2 ** 32 - 0.5;
    sum += values[i] * values[i];
  }
  const scale = 1 / Math.sqrt(sum || 1);
  for (let i = 0; i < n; i++) values[i] *= scale;
  return values;
}
