/**
 * Shared steps of the combination methods: an input's ΔW for a module, the weighted sum
 * Σ wᵢ·ΔWᵢ, the default output ranks, and re-factoring a dense update by truncated SVD
 * (../extract.ts).
 */
import type { numpy as np } from "@jax-js/jax";
import { factorize } from "../extract.js";
import type { CombinedModule, CombineModuleInput, CombineSource, DenseInput } from "./method.js";

/** ΔW of one input for the module (a new array). */
export const deltaOf = (input: CombineModuleInput, s: CombineSource): np.Array =>
  s.delta.delta(input.module.name, input.base);

/** Σ wᵢ·ΔWᵢ over the inputs (a new array). */
export const weightedSum = (input: CombineModuleInput): np.Array =>
  sumDense({
    deltas: input.sources.map((s) => deltaOf(input, s)),
    weights: input.sources.map((s) => s.weight),
  });

/** Σ wᵢ·δᵢ of whole tensors (consumes the δᵢ). */
export function sumDense(input: Pick<DenseInput, "deltas" | "weights">): np.Array {
  const terms = input.deltas.map((d, i) => d.mul(input.weights[i]));
  return terms.slice(1).reduce((acc, t) => acc.add(t), terms[0]);
}

/**
 * The rank at which a sum of the inputs is exact: min(Σ rᵢ, min(out, in)), or min(out, in) when
 * an input's ΔW is not a rank-rᵢ product (DoRA).
 */
export const sumRank = (input: CombineModuleInput): number =>
  input.sources.every((s) => s.delta.factored)
    ? Math.min(
        input.sources.reduce((n, s) => n + s.rank, 0),
        ...input.module.shape,
      )
    : Math.min(...input.module.shape);

/** The largest input rank (PEFT's default for its SVD combinations). */
export const maxRank = (input: CombineModuleInput): number =>
  Math.max(...input.sources.map((s) => s.rank));

/** Factor a dense update (kept as the target) to `rank` (clipped to min(out, in)). */
export function refactor(target: np.Array, rank: number): CombinedModule {
  const { left, right } = factorize(target.ref, { rank });
  return { left, right, target };
}
