/**
 * Jacobian descent with the UPGrad aggregator (Quinton & Rey 2024, "Jacobian Descent for
 * Multi-Objective Optimization", arXiv 2406.16232; TorchJD's UPGrad, read, not copied): for m
 * objectives with gradients g_1 … g_m (the Jacobian J, m × n), each g_i/m is projected onto the
 * dual cone {x : J x ≥ 0} of the rows, and the projections are summed:
 *   G = J Jᵀ (the Gramian), normalised by its trace and regularised (G + ε I, TorchJD's 1e-4)
 *   v_i = argmin_{v ≥ e_i/m} vᵀ G v   (a small QP per objective)
 *   d = Jᵀ Σ_i v_i
 * so d conflicts with no objective (g_i·d ≥ 0 for all i when ε = 0) and reduces to the mean
 * gradient when no two gradients conflict. The QPs are m × m and solved on the host by projected
 * Gauss–Seidel (exact coordinate minimisation with the bound, which converges for a positive
 * definite G), to 1e-12; only the Gramian (m² dot products) and the weighted sum touch the device.
 * Deviations: TorchJD solves the QPs with quadprog (same minimisers, different solver); its
 * preference vector is fixed to the mean (the paper's default).
 */
import type { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";

/** Options of {@link upgrad}. */
export interface UpgradOptions {
  /** Ridge added to the trace-normalised Gramian (TorchJD's reg_eps; default 1e-4). */
  regEps?: number;
  /** Gramians with a trace below this give a zero direction (TorchJD's norm_eps; default 1e-4). */
  normEps?: number;
}

/** argmin_{v ≥ lower} vᵀ G v by projected Gauss–Seidel (G: m × m row-major, float64). */
export function boundedQuadraticMin(g: Float64Array, m: number, lower: Float64Array): Float64Array {
  const v = Float64Array.from(lower);
  for (let sweep = 0; sweep < 20000; sweep++) {
    let change = 0;
    for (let i = 0; i < m; i++) {
      let off = 0;
      for (let j = 0; j < m; j++) if (j !== i) off += g[i * m + j] * v[j];
      const next = Math.max(lower[i], -off / g[i * m + i]);
      change = Math.max(change, Math.abs(next - v[i]));
      v[i] = next;
    }
    if (change <= 1e-12 * Math.max(1, ...v.map(Math.abs))) break;
  }
  return v;
}

/** UPGrad's weights (Σ_i v_i) for a Gramian G (m × m, row-major). */
export function upgradWeights(gramian: ArrayLike<number>, m: number, options: UpgradOptions = {}) {
  const regEps = options.regEps ?? 1e-4;
  const normEps = options.normEps ?? 1e-4;
  let trace = 0;
  for (let i = 0; i < m; i++) trace += gramian[i * m + i];
  const weights = new Float64Array(m);
  if (!(trace >= normEps)) return weights;
  const g = Float64Array.from(gramian, (x) => x / trace);
  for (let i = 0; i < m; i++) g[i * m + i] += regEps;
  for (let i = 0; i < m; i++) {
    const lower = new Float64Array(m);
    lower[i] = 1 / m;
    const v = boundedQuadraticMin(g, m, lower);
    for (let j = 0; j < m; j++) weights[j] += v[j];
  }
  return weights;
}

/** Σ over leaves of a·b as a 0-d array. Borrows both. */
const dot = (a: Params, b: Params): np.Array =>
  tree
    .leaves(tree.map((x: np.Array, y: np.Array) => x.ref.mul(y.ref).sum(), a, b))
    .reduce((acc: np.Array, s) => acc.add(s as np.Array));

/**
 * The UPGrad direction of the objectives' gradients (each a tree shaped like the parameters):
 * descend along it as along a gradient. Consumes the gradients.
 */
export function upgrad(gradients: Params[], options: UpgradOptions = {}): Params {
  const m = gradients.length;
  if (m === 0) throw new RangeError("upgrad needs at least one gradient");
  const gramian = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = i; j < m; j++) {
      const value = dot(gradients[i], gradients[j]).dataSync()[0];
      gramian[i * m + j] = value;
      gramian[j * m + i] = value;
    }
  }
  const w = upgradWeights(gramian, m, options);
  const terms = gradients.map((g, i) => tree.map((x: np.Array) => x.mul(w[i]), g));
  return terms.reduce((acc, t) => tree.map((a: np.Array, b: np.Array) => a.add(b), acc, t));
}
