/**
 * karcher: the Karcher (Riemannian, Fréchet) mean of the models' tensors on the unit hypersphere,
 * rescaled by their mean norm.
 *
 * Rule: every model counts equally, α_i = 1/N (the base model, when the config names one, is one
 * of the N points, as in mergekit where base_model is just another source). n_i = ‖X_i‖,
 * u_i = X_i/n_i; points with n_i ≤ tol are left out of the direction (their α renormalised away)
 * but still count in the scale; all of them ≤ tol → zeros. Start: m = Σ α_i u_i / ‖·‖ (u_0 when
 * that norm < tol). Then at most `max_iter` times: for each point, c_i = clamp(m·u_i, −1, 1),
 * θ_i = acos c_i, skipped when θ_i < tol, else g += α_i θ_i/sin θ_i (u_i − c_i m); stop when
 * ‖g‖ < tol; else m ← cos‖g‖ m + sin‖g‖ g/‖g‖, renormalised. Result (Σ α_i n_i)·m.
 *
 * Reference: mergekit/merge_methods/karcher.py (`karcher_merge_tensors`; max_iter 10, tol 1e-5).
 * Wikipedia "Fréchet mean"; Karcher, "Riemannian center of mass and mollifier smoothing" (1977).
 * Deviations: the dots m·u_i come from one device matvec per iteration; angles, convergence tests
 * and coefficients are host float64 scalars (mergekit: float32 torch scalars). Points are the
 * models in config order, then the base.
 */
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../../../engine/errors.js";
import type { MergeMethod } from "../method.js";

export const karcher: MergeMethod = {
  name: "karcher",
  base: "optional",
  params: [
    { name: "max_iter", default: 10, perModel: false },
    { name: "tol", default: 1e-5, perModel: false },
  ],
  merge(input) {
    const points = input.base === undefined ? input.tensors : [...input.tensors, input.base];
    const maxIter = input.params.max_iter ?? 10;
    const tol = input.params.tol ?? 1e-5;
    if (
      typeof maxIter !== "number" ||
      !Number.isInteger(maxIter) ||
      maxIter < 0 ||
      typeof tol !== "number" ||
      !(tol >= 0)
    ) {
      for (const p of points) p.dispose();
      throw new UsageError(
        `karcher: max_iter must be an integer ≥ 0 and tol a number ≥ 0, got ${String(maxIter)} and ${String(tol)}`,
      );
    }
    if (points.length === 0) throw new UsageError(`karcher: ${input.name} has no models to merge`);
    if (points.length === 1) return points[0];
    const shape = points[0].shape;
    const n = points.length;
    const alpha = 1 / n;
    const x = np.stack(points).reshape([n, -1]);
    const norms = Array.from(np.linalg.norm(x.ref, { axis: -1 }).dataSync() as ArrayLike<number>);
    const valid = norms.flatMap((v, i) => (v > tol ? [i] : []));
    const scale = norms.reduce((s, v) => s + alpha * v, 0);
    if (valid.length === 0) {
      x.dispose();
      return np.zeros(shape);
    }
    // Unit rows of the valid points; their weights renormalised to sum to 1 (all equal).
    const units = np
      .take(x, np.array(valid, { dtype: np.int32 }), 0)
      .div(np.array(valid.map((i) => norms[i])).reshape([-1, 1]));
    const a = 1 / valid.length;
    let mean = units.ref.sum(0).mul(a);
    const meanNorm = Math.sqrt(np.square(mean.ref).sum().item());
    if (meanNorm < tol) {
      mean.dispose();
      mean = units.ref.slice(0);
    } else {
      mean = mean.div(meanNorm);
    }
    for (let iter = 0; iter < maxIter; iter++) {
      const dots = Array.from(np.matmul(units.ref, mean.ref).dataSync() as ArrayLike<number>);
      // Coefficient of u_i and of m in g for each point (0 for points already at m).
      const coefU = dots.map((d) => {
        const c = Math.min(1, Math.max(-1, d));
        const theta = Math.acos(c);
        return theta < tol ? 0 : (a * theta) / Math.sin(theta);
      });
      const coefM = dots.reduce((s, d, i) => s + coefU[i] * Math.min(1, Math.max(-1, d)), 0);
      const g = np.matmul(np.array(coefU), units.ref).sub(mean.ref.mul(coefM));
      const gNorm = Math.sqrt(np.square(g.ref).sum().item());
      if (gNorm < tol) {
        g.dispose();
        break;
      }
      mean = np.add(mean.mul(Math.cos(gNorm)), g.mul(Math.sin(gNorm) / gNorm));
      const unitNorm = Math.sqrt(np.square(mean.ref).sum().item());
      if (unitNorm > tol) mean = mean.div(unitNorm);
    }
    units.dispose();
    return mean.mul(scale).reshape(shape);
  },
};
