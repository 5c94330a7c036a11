/**
 * ties and dare on ΔW through `rankwise merge`'s own methods (src/weights/merge, mergekit's
 * generalized task arithmetic): each adapter's ΔWᵢ is a task vector over a zero base, so the
 * merge rule — sparsify δᵢ (sparsify.ts), weight, optional sign election, normalise — runs
 * unchanged, with the method's mergekit defaults for its global parameters.
 */
import { numpy as np } from "@jax-js/jax";
import type { MergeMethod, ParamValue } from "../../weights/merge/method.js";
import { deltaOf, maxRank, refactor } from "./dense.js";
import type { CombinedModule, CombineModuleInput } from "./method.js";

/** The dense combination of one module by a merge method, re-factored to --rank (default max rᵢ). */
export function mergeOnDelta(method: MergeMethod, input: CombineModuleInput): CombinedModule {
  const params: Record<string, ParamValue> = {};
  for (const p of method.params)
    if (!p.perModel && p.default !== undefined) params[p.name] = p.default;
  const target = method.merge({
    name: input.module.name,
    tensors: input.sources.map((s) => deltaOf(input, s)),
    base: np.zeros(input.module.shape, { dtype: np.float32 }),
    modelParams: input.sources.map((s) => ({ weight: s.weight, density: input.density })),
    params,
    seed: input.seed,
  });
  return refactor(target, input.rank ?? maxRank(input));
}
