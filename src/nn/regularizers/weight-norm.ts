/**
 * Weight normalisation (Salimans & Kingma 2016): each weight vector is reparameterised as
 *   w = g · v / ‖v‖
 * so its length g is decoupled from its direction v. For a matrix in the Hugging Face layout
 * [out, in], a "weight vector" is one output unit's row (torch.nn.utils.weight_norm's dim=0):
 * g has shape [out, 1], ‖v‖ is taken over each row. The gradients through this apply (by
 * autodiff) are the paper's eq. 3:
 *   ∇g L = ∇w L · v / ‖v‖,   ∇v L = (g/‖v‖)·∇w L − (g·∇g L/‖v‖²)·v
 * Pure functions: `weightNormSplit` makes (g, v) from weights (g = ‖w‖ per row, v = w, so the
 * split reproduces w exactly), `weightNormApply` rebuilds w inside a loss. Vectors (1-D) are one
 * weight vector: g is a scalar.
 */
import { numpy as np } from "@jax-js/jax";

/** The two parameters of one weight-normalised tensor. */
export interface WeightNormParams {
  /** Length per row ([out, 1] for a matrix, [] for a vector). */
  g: np.Array;
  /** Direction (any scale; only v/‖v‖ matters). */
  v: np.Array;
}

function rowNorms(v: np.Array): np.Array {
  if (v.ndim === 1) return np.sqrt(v.ref.mul(v).sum());
  if (v.ndim !== 2)
    throw new RangeError(`weight normalisation takes 1-D or 2-D tensors, got ${v.ndim}-D`);
  return np.sqrt(v.ref.mul(v).sum(1, { keepdims: true }));
}

/** (g, v) with g = ‖w‖ per row and v = w: `weightNormApply` of it is w again. Consumes `w`. */
export function weightNormSplit(w: np.Array): WeightNormParams {
  return { g: rowNorms(w.ref), v: w };
}

/** w = g · v / ‖v‖ (per row). Consumes both arrays; differentiable. */
export function weightNormApply({ g, v }: WeightNormParams): np.Array {
  return v.ref.mul(g).div(rowNorms(v));
}
