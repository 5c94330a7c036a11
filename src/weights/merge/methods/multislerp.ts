/**
 * multislerp: barycentric interpolation of any number of models on the hypersphere, through the
 * tangent space at their weighted mean direction.
 *
 * Rule: x_i = X_i (− base when a base model is given), flattened; w = weights (divided by Σw
 * when `normalize_weights`, default true). n_i = ‖x_i‖, u_i = x_i/(n_i + eps). Mean direction
 * m = Σ w_i·u_i; if ‖m‖ < eps: with two models the lerp w0·x0 + w1·x1, otherwise an error (the
 * weights balance antipodal directions out); else m ← m/‖m‖. Tangent vectors
 * v_i = u_i − (u_i·m)·m, v = Σ w_i·v_i, τ = ‖v‖ + eps; the exponential map gives
 * r = cos τ·m + sin τ/τ·v, scaled by Σ w_i·n_i, reshaped, plus the base.
 *
 * Reference: mergekit/merge_methods/multislerp.py (`multislerp`, per-model `weight` required,
 * normalize_weights true, eps 1e-8); Goddard, "Multi-SLERP" (goddard.blog, 2025).
 * Deviations: none in the math (float32 throughout); one model alone is returned as is.
 */
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../../../engine/errors.js";
import type { MergeInput, MergeMethod } from "../method.js";

function release(input: MergeInput): void {
  for (const a of input.tensors) a.dispose();
  input.base?.dispose();
}

export const multislerp: MergeMethod = {
  name: "multislerp",
  base: "optional",
  params: [
    { name: "weight", perModel: true },
    { name: "normalize_weights", default: true, perModel: false },
    { name: "eps", default: 1e-8, perModel: false },
  ],
  merge(input) {
    const { tensors, base } = input;
    if (tensors.length === 0) {
      if (base !== undefined) return base;
      throw new UsageError(`multislerp: ${input.name} has no models to merge`);
    }
    if (tensors.length === 1) {
      base?.dispose();
      return tensors[0];
    }
    const weights = input.modelParams.map((p) => p.weight);
    const eps = input.params.eps ?? 1e-8;
    if (
      !weights.every((w) => typeof w === "number" && Number.isFinite(w)) ||
      typeof eps !== "number"
    ) {
      release(input);
      throw new UsageError(
        `multislerp: every model needs a numeric parameter weight, got ${weights.map(String).join(", ")}`,
      );
    }
    let w = weights as number[];
    if (input.params.normalize_weights ?? true) {
      const total = w.reduce((a, b) => a + b, 0);
      w = w.map((x) => x / total);
    }
    const shape = tensors[0].shape;
    const n = tensors.length;
    let x = np.stack(tensors).reshape([n, -1]);
    if (base !== undefined) x = x.sub(base.ref.reshape([1, -1]));
    const wCol = np.array(w).reshape([n, 1]);

    const norms = np.linalg.norm(x.ref, { axis: -1, keepdims: true });
    const units = x.ref.div(norms.ref.add(eps));
    let mean = units.ref.mul(wCol.ref).sum(0);
    const meanNorm = Math.sqrt(np.square(mean.ref).sum().item());
    if (meanNorm < eps) {
      units.dispose();
      mean.dispose();
      norms.dispose();
      wCol.dispose();
      if (n !== 2) {
        x.dispose();
        base?.dispose();
        throw new UsageError(
          `multislerp: the weighted directions of ${input.name} cancel out (antipodal models with balancing weights); use other weights`,
        );
      }
      const lerp = x
        .mul(np.array(w).reshape([n, 1]))
        .sum(0)
        .reshape(shape);
      return base === undefined ? lerp : lerp.add(base);
    }
    x.dispose();
    mean = mean.div(meanNorm);
    const dots = units.ref.mul(mean.ref).sum(-1, { keepdims: true });
    const tangents = units.sub(dots.mul(mean.ref));
    const tangent = tangents.mul(wCol.ref).sum(0);
    const tau = Math.sqrt(np.square(tangent.ref).sum().item()) + eps;
    const avgNorm = norms.mul(wCol).sum().item();
    const sphere = np.add(mean.mul(Math.cos(tau)), tangent.mul(Math.sin(tau) / tau));
    const res = sphere.mul(avgNorm).reshape(shape);
    return base === undefined ? res : res.add(base);
  },
};
