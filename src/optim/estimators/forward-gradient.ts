/**
 * Forward gradients: gradient estimates from directional derivatives, computed in forward mode
 * (jax-js `jvp`) — one forward pass per direction, no backward pass and no stored activations.
 *
 * forwardGradient (Baydin et al. 2022, "Gradients without Backpropagation"): for directions
 * v_i ~ N(0, I) over all parameters,
 *   g = (1/k) Σ_i (∇f·v_i) v_i,    E[g] = ∇f,    E‖g − ∇f‖² = (n + 1)·‖∇f‖²/k
 * (n parameters; E[(aᵀv)² v vᵀ] = ‖a‖² I + 2 a aᵀ for Gaussian v), unbiased but with a variance
 * that grows with n.
 * guidedForwardGradient (Fournier et al. 2023, "Can Forward Gradient Match Backpropagation?", the
 * seeds' guess-direction improvement): with a guess u (e.g. the gradient of a local or auxiliary
 * loss, or any candidate direction),
 *   g = (∇f·u / ‖u‖²)·u
 * the projection of ∇f on u: biased (unless u ∥ ∇f, when it is exact) but with no variance of
 * its own, and cos(g, ∇f) = |cos(u, ∇f)|; the paper's point is that guesses aligned with the
 * gradient beat isotropic noise by far.
 * Deviation: the directional derivative and the loss come from one jvp call per direction; the
 * paper's reference is its own PyTorch functorch code (not read; the estimators follow the
 * papers' equations exactly).
 */
import { jvp, type numpy as np, random } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";

/** A scalar loss of the parameters; it borrows them (takes `.ref` of what it uses). */
export type LossOf = (params: Params) => np.Array;

/** [f(p), ∇f·v] in one forward pass. Borrows params, consumes the tangent. */
export function directionalDerivative(
  f: LossOf,
  params: Params,
  tangent: Params,
): [np.Array, np.Array] {
  const borrowed = (p: Params) => {
    const out = f(p);
    tree.dispose(p);
    return out;
  };
  const [value, slope] = jvp(borrowed, [tree.ref(params)] as any, [tangent] as any);
  return [value as unknown as np.Array, slope as unknown as np.Array];
}

/** A standard-normal tree shaped like `like` from `key` (consumed). Borrows like. */
export function normalTree(like: Params, key: np.Array): Params {
  const n = tree.leaves(like).length;
  const keys = random.split(key, n);
  let i = 0;
  const out = tree.map((x: np.Array) => random.normal(keys.ref.slice(i++), x.shape), like);
  keys.dispose();
  return out;
}

/** Σ over leaves of a·b (a scalar). Borrows both. */
const dot = (a: Params, b: Params): np.Array =>
  tree
    .leaves(tree.map((x: np.Array, y: np.Array) => x.ref.mul(y.ref).sum(), a, b))
    .reduce((acc: np.Array, s) => acc.add(s as np.Array));

/**
 * Baydin et al.'s forward gradient with `directions` Gaussian directions: [f(p), g]. Borrows
 * params, consumes key.
 */
export function forwardGradient(
  f: LossOf,
  params: Params,
  key: np.Array,
  directions = 1,
): [np.Array, Params] {
  if (!Number.isInteger(directions) || directions < 1) {
    throw new RangeError(`directions must be an integer ≥ 1, got ${directions}`);
  }
  const keys = random.split(key, directions);
  let loss: np.Array | null = null;
  let sum: Params | null = null;
  for (let i = 0; i < directions; i++) {
    const v = normalTree(params, keys.ref.slice(i));
    const [value, slope] = directionalDerivative(f, params, tree.ref(v));
    if (loss === null) loss = value;
    else value.dispose();
    const scaled = tree.map((x: np.Array) => x.mul(slope.ref), v);
    slope.dispose();
    sum = sum === null ? scaled : tree.map((a: np.Array, b: np.Array) => a.add(b), sum, scaled);
  }
  keys.dispose();
  const g = directions === 1 ? sum! : tree.map((x: np.Array) => x.div(directions), sum!);
  return [loss!, g];
}

/**
 * Fournier et al.'s guided forward gradient: the projection of ∇f on the guess u, [f(p), g].
 * Borrows params, consumes the guess.
 */
export function guidedForwardGradient(
  f: LossOf,
  params: Params,
  guess: Params,
): [np.Array, Params] {
  const norm2 = dot(guess, guess);
  const [value, slope] = directionalDerivative(f, params, tree.ref(guess));
  const c = slope.div(norm2);
  const g = tree.map((u: np.Array) => u.mul(c.ref), guess);
  c.dispose();
  return [value, g];
}
