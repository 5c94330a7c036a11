/**
 * nuslerp: slerp between exactly two models with mergekit's newer options: per-model weights
 * instead of t, interpolation of task vectors when a base model is given, and the choice of
 * what counts as one vector (the whole tensor, each row, or each column).
 *
 * Rule: t = w1/(w0 + w1) (0.5 when |w0 + w1| < 1e-6). With a base, x_i = X_i − base and the
 * result is base + nuslerp(x0, x1); without, the tensors themselves. Vectors: the flattened
 * tensor when `nuslerp_flatten` (default true); otherwise slices along the last axis (rows of a
 * [out, in] matrix) or, with `nuslerp_row_wise`, along the first axis (columns of a matrix —
 * mergekit's naming: its `dim = 0` swaps axes 0 and −1). Per vector: u_i = x_i/max(‖x_i‖, 1e-7),
 * θ = acos(clamp(u0·u1, −1, 1)); res = (sin((1 − t)θ)·x0 + sin(tθ)·x1)/sin θ, and the lerp
 * (1 − t)·x0 + t·x1 where |sin θ| < 1e-8.
 *
 * Reference: mergekit/merge_methods/nuslerp.py (`nuslerp`, NuSlerpTask; parameters
 * nuslerp_flatten true, nuslerp_row_wise false; per-model `weight` required).
 * Deviations: colinearity is tested as |cos θ| = 1 (after the clamp) rather than
 * |sin θ| < 1e-8, the same set in float32 with an exact acos; jax-js's acos(1) is 9.5e-7, which
 * would send exactly parallel vectors through the spherical formula (harmlessly: it then equals
 * the lerp to ~1e-12). A tensor only one model has is the caller's concern.
 */
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../../../engine/errors.js";
import type { MergeInput, MergeMethod } from "../method.js";

function release(input: MergeInput): void {
  for (const a of input.tensors) a.dispose();
  input.base?.dispose();
}

/** Spherical interpolation of the rows of x0 and x1 ([..., d], vectors on the last axis). */
function slerpRows(t: number, x0: np.Array, x1: np.Array): np.Array {
  const unit = (x: np.Array) =>
    x.ref.div(np.maximum(np.linalg.norm(x, { axis: -1, keepdims: true }), 1e-7));
  const cos = np.multiply(unit(x0.ref), unit(x1.ref)).sum(-1, { keepdims: true });
  const clipped = np.clip(cos, -1, 1);
  // mergekit's |sin θ| < 1e-8 holds in float32 only where cos θ = ±1 exactly; tested on cos
  // because jax-js's acos(1) is 9.5e-7, not 0.
  const colinear = np.absolute(clipped.ref).greaterEqual(1);
  const theta = np.acos(clipped);
  const sinTheta = np.sin(theta.ref);
  const spherical = np
    .add(np.sin(theta.ref.mul(1 - t)).mul(x0.ref), np.sin(theta.mul(t)).mul(x1.ref))
    .div(sinTheta);
  const linear = np.add(x0.mul(1 - t), x1.mul(t));
  return np.where(colinear, linear, spherical);
}

export const nuslerp: MergeMethod = {
  name: "nuslerp",
  base: "optional",
  params: [
    { name: "weight", perModel: true },
    { name: "nuslerp_flatten", default: true, perModel: false },
    { name: "nuslerp_row_wise", default: false, perModel: false },
  ],
  merge(input) {
    const { tensors, base } = input;
    if (tensors.length === 1 && base === undefined) return tensors[0];
    if (tensors.length === 0 && base !== undefined) return base;
    if (tensors.length !== 2) {
      release(input);
      throw new UsageError(
        `nuslerp merges exactly two models (plus an optional base_model, not one of the two); ${input.name} has ${tensors.length}`,
      );
    }
    const weights = input.modelParams.map((p) => p.weight);
    if (!weights.every((w) => typeof w === "number" && Number.isFinite(w))) {
      release(input);
      throw new UsageError(
        `nuslerp: every model needs a numeric parameter weight, got ${weights.map(String).join(", ")}`,
      );
    }
    const [w0, w1] = weights as number[];
    const t = Math.abs(w0 + w1) < 1e-6 ? 0.5 : w1 / (w0 + w1);
    const flatten = input.params.nuslerp_flatten ?? true;
    const rowWise = input.params.nuslerp_row_wise ?? false;

    const shape = tensors[0].shape;
    let [x0, x1] = tensors;
    if (base !== undefined) {
      x0 = x0.sub(base.ref);
      x1 = x1.sub(base.ref);
    }
    let res: np.Array;
    if (flatten === true) {
      res = slerpRows(t, x0.reshape([1, -1]), x1.reshape([1, -1])).reshape(shape);
    } else if (rowWise === true && shape.length > 1) {
      const last = shape.length - 1;
      res = np.swapaxes(slerpRows(t, np.swapaxes(x0, 0, last), np.swapaxes(x1, 0, last)), 0, last);
    } else {
      res = slerpRows(t, x0, x1);
    }
    return base === undefined ? res : base.add(res);
  },
};
