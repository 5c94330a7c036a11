/**
 * Exponential moving averages shared by the adaptive methods (one fused expression per leaf).
 * The decay and its complement are numbers, or 0-d arrays inside jit-compiled code (then each is
 * consumed once, so the complement is passed rather than computed).
 */
import type { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { mapMulti } from "../leafwise.js";

type Scalar = number | np.Array;
const complementOf = (decay: Scalar, complement?: Scalar): Scalar =>
  complement ?? 1 - (decay as number);

/** decay·avg + (1 − decay)·x. Consumes both. */
export const ema = (avg: np.Array, x: np.Array, decay: Scalar, complement?: Scalar): np.Array =>
  avg.mul(decay).add(x.mul(complementOf(decay, complement)));

/** decay·avg + (1 − decay)·x². Consumes both. */
export const emaSquare = (
  avg: np.Array,
  x: np.Array,
  decay: Scalar,
  complement?: Scalar,
): np.Array => avg.mul(decay).add(x.ref.mul(x).mul(complementOf(decay, complement)));

/**
 * Adam's two moments on every leaf: m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g². Borrows the
 * gradients `g`, consumes `mu` and `nu`; returns [mu, nu].
 */
export const adamMoments = (g: Params, mu: Params, nu: Params, b1: number, b2: number) =>
  mapMulti(2, (x, m, v) => [ema(m, x.ref, b1), emaSquare(v, x.ref, b2)], g, mu, nu);

/** Bias correction 1 − β^t for a 1-based step t (computed in float64, as PyTorch does). */
export const biasCorrection = (beta: number, t: number): number => 1 - beta ** t;

/** An optimizer state: `extra`, then one zero tree shaped like `params` per name. Consumes params. */
export function zeroMoments<K extends string, E extends object = Record<never, never>>(
  params: Params,
  names: readonly K[],
  extra?: E,
): E & Record<K, Params> {
  const state: Record<string, unknown> = { ...extra };
  for (const name of names) state[name] = tree.zerosLike(params);
  tree.dispose(params);
  return state as E & Record<K, Params>;
}
