/** Exponential moving averages shared by the adaptive methods (one fused expression per leaf). */
import type { numpy as np } from "@jax-js/jax";

/** decay·avg + (1 − decay)·x. Consumes both. */
export const ema = (avg: np.Array, x: np.Array, decay: number): np.Array =>
  avg.mul(decay).add(x.mul(1 - decay));

/** decay·avg + (1 − decay)·x². Consumes both. */
export const emaSquare = (avg: np.Array, x: np.Array, decay: number): np.Array =>
  avg.mul(decay).add(x.ref.mul(x).mul(1 - decay));

/** Bias correction 1 − β^t for a 1-based step t (computed in float64, as PyTorch does). */
export const biasCorrection = (beta: number, t: number): number => 1 - beta ** t;
