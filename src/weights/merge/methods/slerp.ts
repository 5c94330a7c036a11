/**
 * slerp: spherical linear interpolation between the base model and one other model, over each
 * tensor as a whole.
 *
 * Rule: u0 = v0/‖v0‖, u1 = v1/‖v1‖ (a norm ≤ 1e-8 leaves the tensor as is); dot = Σ u0·u1.
 * When |dot| > 0.9995 the two are treated as colinear and the raw tensors are lerped,
 * (1 − t)·v0 + t·v1; otherwise θ = acos(dot) and
 * res = sin((1 − t)θ)/sin θ · v0 + sin(tθ)/sin θ · v1 (the raw tensors, not the unit ones: the
 * norms are interpolated along with the direction).
 * v0 is the base model (t = 0 gives it back), v1 the other model (t = 1).
 *
 * Paper: Shoemake, "Animating rotation with quaternion curves" (SIGGRAPH 1985); used for model
 * merging by mergekit. Reference: mergekit/merge_methods/slerp.py (`slerp`, DOT_THRESHOLD 0.9995,
 * eps 1e-8; parameter `t` required).
 * Deviations: mergekit works in float32 numpy throughout; here the three reductions (‖v0‖², ‖v1‖²,
 * v0·v1) run in float32 on the device and the angle and coefficients are computed on the host in
 * float64. mergekit's single-tensor shortcut (a tensor only one model has) is the caller's
 * concern; a base alone is returned as is.
 */
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../../../engine/errors.js";
import type { MergeInput, MergeMethod } from "../method.js";

const DOT_THRESHOLD = 0.9995;
const EPS = 1e-8;

function release(input: MergeInput): void {
  for (const a of input.tensors) a.dispose();
  input.base?.dispose();
}

export const slerp: MergeMethod = {
  name: "slerp",
  base: "required",
  params: [{ name: "t", perModel: false }],
  merge(input) {
    const { tensors, base } = input;
    if (base !== undefined && tensors.length === 0) return base;
    if (base === undefined || tensors.length !== 1) {
      release(input);
      throw new UsageError(
        `slerp merges exactly two models, base_model and one other; ${input.name} has ${tensors.length} besides ${base === undefined ? "no base_model" : "the base"}`,
      );
    }
    const t = input.params.t;
    if (typeof t !== "number" || !Number.isFinite(t)) {
      release(input);
      throw new UsageError(
        `slerp: parameter t must be a number (0 = base_model, 1 = the other model), got ${String(t)}`,
      );
    }
    const v0 = base;
    const v1 = tensors[0];
    const n0 = Math.sqrt(np.square(v0.ref).sum().item());
    const n1 = Math.sqrt(np.square(v1.ref).sum().item());
    const raw = np.multiply(v0.ref, v1.ref).sum().item();
    // mergekit divides by a norm only when it exceeds eps.
    const dot = raw / ((n0 > EPS ? n0 : 1) * (n1 > EPS ? n1 : 1));
    let s0: number;
    let s1: number;
    if (Math.abs(dot) > DOT_THRESHOLD) {
      s0 = 1 - t;
      s1 = t;
    } else {
      const theta = Math.acos(dot);
      const sinTheta = Math.sin(theta);
      s0 = Math.sin(theta - theta * t) / sinTheta;
      s1 = Math.sin(theta * t) / sinTheta;
    }
    return np.add(v0.mul(s0), v1.mul(s1));
  },
};
