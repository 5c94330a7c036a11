/**
 * ties and dare on ΔW through `rankwise merge`'s own methods (src/weights/merge, mergekit's
 * generalized task arithmetic): each adapter's ΔWᵢ is a task vector over a zero base, so the
 * merge rule — sparsify δᵢ (sparsify.ts), weight, optional sign election, normalise — runs
 * unchanged, with the method's mergekit defaults for its global parameters.
 */
import { numpy as np } from "@jax-js/jax";
import type { MergeMethod, ParamValue } from "../../weights/merge/method.js";
import { deltaOf, maxRank, refactor } from "./dense.js";
import type { CombinedModule, CombineModuleInput, DenseInput } from "./method.js";

/** A merge method's result on whole-tensor differences over a zero base (consumes `deltas`). */
export function mergeDense(method: MergeMethod, input: DenseInput): np.Array {
  const params: Record<string, ParamValue> = {};
  for (const p of method.params)
    if (!p.perModel && p.default !== undefined) params[p.name] = p.default;
  return method.merge({
    name: input.name,
    tensors: input.deltas,
    base: np.zeros(input.shape, { dtype: np.float32 }),
    modelParams: input.weights.map((weight) => ({ weight, density: input.density })),
    params,
    seed: input.seed,
  });
}

/** The dense combination of one module by a merge method, re-factored to --rank (default max rᵢ). */
export function mergeOnDelta(method: MergeMethod, input: CombineModuleInput): CombinedModule {
  const target = mergeDense(method, {
    name: input.module.name,
    shape: input.module.shape,
    deltas: input.sources.map((s) => deltaOf(input, s)),
    weights: input.sources.map((s) => s.weight),
    density: input.density,
    seed: input.seed,
  });
  return refactor(target, input.rank ?? maxRank(input));
}
