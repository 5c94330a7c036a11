/**
 * Finite weights: which leaves of a parameter tree hold a NaN or ±Inf. One compiled program per
 * tree structure (a flag per leaf: 0 when finite, NaN when not) and one read from the device. The trainer checks every
 * step's new parameters with it, checkpoints refuse non-finite weights, and model loading refuses
 * them (a diverged run's weights must not pass for a model).
 */
import { jit, numpy as np } from "@jax-js/jax";
import * as tree from "../engine/tree.js";

// Σ (x − x) is 0 for a finite leaf and NaN as soon as one entry is NaN or ±Inf (Inf − Inf =
// NaN): the answer of all(isfinite(x)), about 3× faster on the wasm backend. (Not Σ x·0: jax-js
// folds x·0 to 0, which IEEE does not; test/nn/finite.test.ts guards against such folding.)
const flagsOf = jit((t: tree.Params) =>
  np.stack(tree.leaves(t).map((x) => x.ref.sub(x).sum())),
) as unknown as (t: tree.Params) => np.Array;

/** Paths of the leaves that hold a non-finite value (borrows the tree). */
export async function nonFiniteLeaves(t: tree.Params): Promise<string[]> {
  const paths = tree.paths(t);
  if (paths.length === 0) return [];
  const flags = await flagsOf(tree.share(t)).data();
  return paths.filter((_, i) => flags[i] !== 0);
}

/** One line naming the bad leaves: `"a.weight"` or `"a.weight" and 3 more tensors`. */
export function describeLeaves(paths: string[]): string {
  const first = JSON.stringify(paths[0]);
  return paths.length === 1 ? first : `${first} and ${paths.length - 1} more tensors`;
}
