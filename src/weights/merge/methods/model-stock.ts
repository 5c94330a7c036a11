/**
 * model_stock: average the fine-tuned models, then pull the average toward the base by a ratio
 * set by the angle between the models' offsets from the base.
 *
 * Rule: δ_i = X_i − base (N ≥ 2 models). Vectors: the flattened tensor, or with `filter_wise`
 * each row along the last axis (a vector is one row). cos θ = the mean over pairs i < j of
 * clamp(δ_i·δ_j / max(‖δ_i‖‖δ_j‖, 1e-6), −1, 1) (per row when filter_wise);
 * t = N cos θ / (1 + (N − 1) cos θ); result t·mean_i X_i + (1 − t)·base.
 *
 * Paper: Jang, Yun, Han, "Model Stock: All we need is just a few fine-tuned models" (ECCV 2024,
 * arXiv:2403.19522), eq. for t; the paper uses a single angle, mergekit (and so this file) the
 * mean of the pairwise cosines. Reference: mergekit/merge_methods/model_stock.py
 * (filter_wise false).
 * Deviations: none in the math. A base alone is returned as is; fewer than two models besides
 * the base is an error (mergekit drops optional weights there; that is the caller's concern).
 */
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../../../engine/errors.js";
import type { MergeInput, MergeMethod } from "../method.js";

function release(input: MergeInput): void {
  for (const a of input.tensors) a.dispose();
  input.base?.dispose();
}

export const modelStock: MergeMethod = {
  name: "model_stock",
  base: "required",
  params: [{ name: "filter_wise", default: false, perModel: false }],
  merge(input) {
    const { tensors, base } = input;
    if (base !== undefined && tensors.length === 0) return base;
    if (base === undefined || tensors.length < 2) {
      release(input);
      throw new UsageError(
        `model_stock needs a base_model and at least two other models; ${input.name} has ${tensors.length} besides ${base === undefined ? "no base_model" : "the base"}`,
      );
    }
    const shape = base.shape;
    const n = tensors.length;
    // Rows [R, d]: one row (the whole tensor) unless filter_wise on a matrix.
    const rows =
      input.params.filter_wise === true && shape.length > 1
        ? [-1, shape[shape.length - 1]]
        : [1, -1];
    const w0 = base.reshape(rows);
    const ws = np.stack(tensors).reshape([n, ...w0.shape]);
    const deltas = ws.ref.sub(w0.ref);
    const norms = np.linalg.norm(deltas.ref, { axis: -1 }); // [N, R]
    let cosSum: np.Array | null = null;
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const dot = np.multiply(deltas.ref.slice(i), deltas.ref.slice(j)).sum(-1);
        const denom = np.maximum(np.multiply(norms.ref.slice(i), norms.ref.slice(j)), 1e-6);
        const cos = np.clip(dot.div(denom), -1, 1);
        cosSum = cosSum === null ? cos : cosSum.add(cos);
      }
    }
    deltas.dispose();
    norms.dispose();
    const cos = (cosSum as np.Array).div((n * (n - 1)) / 2).reshape([-1, 1]);
    const t = cos.ref.mul(n).div(cos.mul(n - 1).add(1));
    const avg = ws.mean(0);
    return np.add(t.ref.mul(avg), np.subtract(1, t).mul(w0)).reshape(shape);
  },
};
