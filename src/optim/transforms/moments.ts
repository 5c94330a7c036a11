/**
 * Exponential moving averages shared by the adaptive methods (one fused expression per leaf).
 * The decay and its complement are numbers, or 0-d arrays inside jit-compiled code (then each is
 * consumed once, so the complement is passed rather than computed).
 */
import type { numpy as np } from "@jax-js/jax";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";

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
