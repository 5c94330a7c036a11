/**
 * nearswap: take the other model's value where it is close to the base's, keep the base's where
 * they differ a lot, and interpolate in between.
 *
 * Rule: λ = clamp(t / |v0 − v1|, 0, 1), with 1 where v0 = v1 (the 0/0 and x/0 cases); result
 * λ·v1 + (1 − λ)·v0, v0 the base model, v1 the other. `t` (> 0, required) is the "sameness"
 * threshold: elements within t of each other become v1 exactly.
 *
 * Reference: mergekit/merge_methods/nearswap.py (`nearswap`), after alchemonaut's
 * QuartetAnemoi-70B-t0.0001 merge (huggingface.co). No paper.
 * Deviations: none. A base alone is returned as is.
 */
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../../../engine/errors.js";
import type { MergeInput, MergeMethod } from "../method.js";

function release(input: MergeInput): void {
  for (const a of input.tensors) a.dispose();
  input.base?.dispose();
}

export const nearswap: MergeMethod = {
  name: "nearswap",
  base: "required",
  params: [{ name: "t", perModel: false }],
  merge(input) {
    const { tensors, base } = input;
    const t = input.params.t;
    if (typeof t !== "number" || !(t > 0)) {
      release(input);
      throw new UsageError(
        `nearswap: parameter t must be a number > 0 (the sameness threshold), got ${String(t)}`,
      );
    }
    if (base !== undefined && tensors.length === 0) return base;
    if (base === undefined || tensors.length !== 1) {
      release(input);
      throw new UsageError(
        `nearswap merges exactly two models, base_model and one other; ${input.name} has ${tensors.length} besides ${base === undefined ? "no base_model" : "the base"}`,
      );
    }
    const v1 = tensors[0];
    const lambda = np.clip(
      np.nanToNum(np.divide(t, np.absolute(base.ref.sub(v1.ref))), {
        nan: 1,
        posinf: 1,
        neginf: 1,
      }),
      0,
      1,
    );
    return np.add(lambda.ref.mul(v1), np.subtract(1, lambda).mul(base));
  },
};
