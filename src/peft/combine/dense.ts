/**
 * Shared steps of the combination methods: an input's ΔW for a module, the weighted sum
 * Σ wᵢ·ΔWᵢ, the default output ranks, and re-factoring a dense update by truncated SVD
 * (../extract.ts).
 */
import { numpy as np } from "@jax-js/jax";
import type { LowRank } from "../delta.js";
import { factorize, factorizeProduct } from "../extract.js";
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

/**
 * [w₁L₁ | w₂L₂ | …] and [R₁; R₂; …], whose product is Σ wᵢ·ΔWᵢ exactly (new arrays), or
 * undefined when an input has no exact factors (DoRA).
 */
export function catFactors(input: CombineModuleInput): LowRank | undefined {
  if (!input.sources.every((s) => s.delta.factored)) return undefined;
  const parts = input.sources.map((s) => s.delta.lowRank(input.module.name));
  if (parts.some((f) => f === undefined)) {
    for (const f of parts) if (f) for (const a of [f.left, f.right]) a.dispose();
    return undefined;
  }
  const fs = parts as LowRank[];
  return {
    left: np.concatenate(
      fs.map((f, i) => f.left.mul(input.sources[i].weight)),
      1,
    ),
    right: np.concatenate(
      fs.map((f) => f.right),
      0,
    ),
  };
}

/** Factor a dense update (kept as the target) to `rank` (clipped to min(out, in)). */
export function refactor(target: np.Array, rank: number): CombinedModule {
  const { left, right } = factorize(target.ref, { rank });
  return { left, right, target };
}

/**
 * Σ wᵢ·ΔWᵢ at `rank`: through the concatenated factors when every input has them
 * (factorizeProduct: no m×n SVD), else by the dense SVD. The dense sum is the target.
 */
export function refactorSum(input: CombineModuleInput, rank: number): CombinedModule {
  const target = weightedSum(input);
  const f = catFactors(input);
  if (f === undefined) return refactor(target, rank);
  const { left, right } = factorizeProduct(f.left, f.right, { rank });
  return { left, right, target };
}
