/**
 * Geometric disentanglement: the part of an update that leaves the retain loss unchanged to
 * first order.
 *
 *   G = [g_r1 … g_rk]   retain gradients, each the whole parameter tree flattened (N×k)
 *   Q = orthonormal basis of span(G)   (QR from src/linalg; dependent columns dropped)
 *   u_normal = u − Q (Qᵀ u)            (executed; the tangential Q Qᵀ u is discarded)
 *
 * so ⟨u_normal, g_ri⟩ = 0 for every retain gradient, and u_normal = u when u ⊥ span(G).
 *
 * Paper: "Geometric-Disentanglement Unlearning" (seed 001): the retain loss is unchanged to
 * first order iff the update is orthogonal to the span of retain gradients; GU executes only the
 * normal component of the forget update. Reference: the authors' code is not stored here; this
 * follows the abstract. Deviations: none in the projection; the span is of the k gradients given
 * (the caller draws them per step, one per retain batch).
 */
import { numpy as np } from "@jax-js/jax";
import { qr } from "../../linalg/index.js";

/** A flat record of named arrays (a model's or a gradient's). */
export type NamedArrays = Record<string, np.Array>;

/** All leaves of `tree` (in key order) as one float32 vector [N]. Consumes `tree`. */
export function flatten(tree: NamedArrays): np.Array {
  const parts = Object.keys(tree).map((k) => tree[k].reshape([-1]).astype(np.float32));
  return np.concatenate(parts, 0);
}

/** Names and shapes of a tree, in key order. */
export const shapesOf = (tree: NamedArrays): Record<string, number[]> =>
  Object.fromEntries(Object.entries(tree).map(([k, a]) => [k, a.shape]));

/** The vector [N] back into named shapes (key order, as {@link flatten}). Consumes `flat`. */
export function unflatten(flat: np.Array, shapes: Record<string, number[]>): NamedArrays {
  const out: NamedArrays = {};
  let offset = 0;
  for (const [name, shape] of Object.entries(shapes)) {
    const size = shape.reduce((a, b) => a * b, 1);
    out[name] = flat.ref.slice([offset, offset + size]).reshape(shape);
    offset += size;
  }
  flat.dispose();
  return out;
}

/**
 * An orthonormal basis Q [N, r] (r ≤ k) of the span of the k retain gradients. A gradient
 * dependent on the earlier ones (|R_jj| ≤ 1e-6 · max |R_ii|) adds no column. Consumes `grads`.
 */
export function retainBasis(grads: NamedArrays[]): np.Array {
  if (grads.length === 0) throw new RangeError("retainBasis needs at least one retain gradient");
  const columns = grads.map((g) => flatten(g).reshape([-1, 1]));
  const { q, r } = qr(np.concatenate(columns, 1));
  const k = grads.length;
  const rh = r.dataSync() as Float32Array;
  let max = 0;
  for (let j = 0; j < k; j++) max = Math.max(max, Math.abs(rh[j * k + j]));
  const keep: number[] = [];
  for (let j = 0; j < k; j++) if (Math.abs(rh[j * k + j]) > 1e-6 * max) keep.push(j);
  if (keep.length === k) return q;
  if (keep.length === 0) {
    const n = q.shape[0];
    q.dispose();
    return np.zeros([n, 0], { dtype: np.float32 });
  }
  const cols = keep.map((j) => q.ref.slice([], [j, j + 1]));
  q.dispose();
  return np.concatenate(cols, 1);
}

/** u − Q Qᵀ u over a parameter tree. Consumes `update`; borrows `basis` [N, r]. */
export function projectNormal(update: NamedArrays, basis: np.Array): NamedArrays {
  const shapes = shapesOf(update);
  const u = flatten(update);
  if (basis.shape[1] === 0) return unflatten(u, shapes);
  const coeff = np.matmul(basis.ref.transpose(), u.ref.reshape([-1, 1]));
  return unflatten(u.sub(np.matmul(basis.ref, coeff).reshape([-1])), shapes);
}
