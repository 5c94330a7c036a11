/**
 * Clipping. clipByGlobalNorm: if ‖u‖₂ (over every leaf) > maxNorm, u ← u · maxNorm / ‖u‖₂, as
 * torch.nn.utils.clip_grad_norm_ (which divides by ‖u‖ + 1e-6; optax divides by ‖u‖ — we follow
 * optax: exact rescaling to maxNorm). clipByValue: u ← clamp(u, −max, max).
 * The norm stays an array (no host read), and both are compiled over the whole tree.
 */
import { jit, numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { statelessTree } from "../core.js";
import { leafwise } from "../leafwise.js";

/** Global L2 norm of every leaf (borrows the tree), as a scalar array. */
export function globalNorm(t: Params): np.Array {
  const squares = tree.leaves(t).map((x) => x.ref.mul(x.ref).sum());
  return np.sqrt(squares.reduce((a, b) => a.add(b)));
}

/** `globalNorm`, compiled; consumes the tree. */
export const globalNormOf = jit((t: Params) => {
  const norm = globalNorm(t);
  tree.dispose(t);
  return norm;
}) as unknown as (t: Params) => np.Array;

const clipTree = jit((u: Params, maxNorm: np.Array) => {
  // factor = max(norm, maxNorm) / maxNorm: 1 below the threshold.
  const factor = np.maximum(globalNorm(u), maxNorm.ref).div(maxNorm);
  const out = tree.map((x: np.Array) => x.div(factor.ref), u);
  factor.dispose();
  return out;
}) as unknown as (u: Params, maxNorm: np.Array) => Params;

/**
 * Rescale the updates to global norm `maxNorm` when they exceed it (optax's clip_by_global_norm).
 */
export const clipByGlobalNorm = (maxNorm: number) =>
  statelessTree((updates) => clipTree(updates, np.array(maxNorm)));

const clampLeaves = leafwise(([u], [lo, hi]) => [np.clip(u, lo, hi)]);

/** Clamp every update entry to [−maxDelta, maxDelta]. */
export const clipByValue = (maxDelta: number) =>
  statelessTree((updates) => clampLeaves([updates], [-maxDelta, maxDelta])[0]);
