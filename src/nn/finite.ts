/**
 * Finite weights: which leaves of a parameter tree hold a NaN or ±Inf. One compiled program per
 * tree structure (a 0/1 flag per leaf) and one read from the device. The trainer checks every
 * step's new parameters with it, checkpoints refuse non-finite weights, and model loading refuses
 * them (a diverged run's weights must not pass for a model).
 */
import { jit, numpy as np } from "@jax-js/jax";
import * as tree from "../engine/tree.js";

const flagsOf = jit((t: tree.Params) =>
  np.stack(tree.leaves(t).map((x) => np.isfinite(x).all().astype(np.float32))),
) as unknown as (t: tree.Params) => np.Array;

/** Paths of the leaves that hold a non-finite value (borrows the tree). */
export async function nonFiniteLeaves(t: tree.Params): Promise<string[]> {
  const paths = tree.paths(t);
  if (paths.length === 0) return [];
  const flags = await flagsOf(tree.share(t)).data();
  return paths.filter((_, i) => flags[i] !== 1);
}

/** One line naming the bad leaves: `"a.weight"` or `"a.weight" and 3 more tensors`. */
export function describeLeaves(paths: string[]): string {
  const first = JSON.stringify(paths[0]);
  return paths.length === 1 ? first : `${first} and ${paths.length - 1} more tensors`;
}
