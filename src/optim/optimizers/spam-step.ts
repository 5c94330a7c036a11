/**
 * SPAM's per-step bookkeeping (Huang et al. 2025, arXiv 2501.06842), shared by dense SPAM
 * (spam.ts) and its sparse-momentum variant (spam-sparse.ts); `zeroed` also serves Stable-SPAM's
 * resets (stable-spam.ts). At step t:
 *   reset: ΔT > 0 and t mod ΔT = 0 (the moments restart at 0);
 *   clip:  θ > 0, t ≥ N and at least N steps since the last reset (spike clipping on g²/v);
 *   adam:  ε outside the bias correction, as ε' = ε / √(1 − β2ᵗ) in adamDirection's form.
 */
import { numpy as np } from "@jax-js/jax";
import { biasCorrection } from "../transforms/moments.js";

/** What a SPAM step depends on. */
export interface SpamStepOptions {
  b1: number;
  b2: number;
  eps: number;
  resetInterval: number;
  spikeThreshold: number;
  clipDelay: number;
}

/** Whether step t resets and clips, and Adam's options for it (see the file header). */
export function spamStep(
  o: SpamStepOptions,
  t: number,
): { reset: boolean; clip: boolean; adam: { b1: number; b2: number; eps: number } } {
  const reset = o.resetInterval > 0 && t % o.resetInterval === 0;
  const sinceReset = o.resetInterval > 0 ? t % o.resetInterval : t;
  const clip = o.spikeThreshold > 0 && t >= o.clipDelay && sinceReset >= o.clipDelay;
  const adam = { b1: o.b1, b2: o.b2, eps: o.eps / Math.sqrt(biasCorrection(o.b2, t)) };
  return { reset, clip, adam };
}

/** Zeros shaped like `a` (consumes a). */
export function zeroed(a: np.Array): np.Array {
  const z = np.zeros(a.shape, { dtype: a.dtype });
  a.dispose();
  return z;
}
