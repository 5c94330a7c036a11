/**
 * linear (mergekit merge_methods/linear.py, read not copied): res = Σ wᵢ·Xᵢ, divided by Σ wᵢ when
 * `normalize` (default true). Every listed model takes part, the base_model included (it has no
 * special role; give it a weight like the others).
 */
import { numpy as np } from "@jax-js/jax";
import type { MergeMethod } from "../method.js";

export const linear: MergeMethod = {
  name: "linear",
  base: "none",
  params: [
    { name: "normalize", default: true, perModel: false },
    { name: "weight", perModel: true },
  ],
  merge({ tensors, modelParams, params }) {
    const weights = modelParams.map((p) => Number(p.weight));
    const sum = tensors.map((x, i) => np.multiply(x, weights[i]!)).reduce((s, x) => np.add(s, x));
    return params.normalize
      ? np.divide(
          sum,
          weights.reduce((s, w) => s + w, 0),
        )
      : sum;
  },
};
