/**
 * The integer grid of GPTQ's reference quantizer (IST-DASLab/gptq quant.py, `Quantizer` with
 * perchannel=True, sym=True, mse=False), for one group of weights of one output row:
 *
 *   xmin = min(min x, 0), xmax = max(max x, 0); xmax = max(|xmin|, xmax);
 *   xmin = −xmax if xmin < 0 (else it stays 0); xmin = xmax = 0 → xmin = −1, xmax = 1;
 *   scale = (xmax − xmin)/maxq, maxq = 2^bits − 1, zero = 2^(bits−1);
 *   q = clamp(round(x/scale) + zero, 0, maxq),  x̂ = scale·(q − zero).
 *
 * Symmetric (zero point fixed at 2^(bits−1)), as Hugging Face's GPTQConfig and AutoGPTQ default
 * to: no zero points to store, and 8-bit codes q − 128 are exactly int8. round() ties to even,
 * as torch.round.
 * Deviation: the scale is rounded to float32 at once (it is stored as float32) and that scale is
 * used for the codes and x̂; the reference keeps the scale of its working precision.
 */

/** Bits per weight code. */
export type QuantBits = 4 | 8;

/** Largest code, 2^bits − 1. */
export const maxCode = (bits: QuantBits): number => 2 ** bits - 1;

/** The fixed zero point of the symmetric grid, 2^(bits−1). */
export const zeroPoint = (bits: QuantBits): number => 2 ** (bits - 1);

/** Round half to even (torch.round, numpy.rint). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v); // ties go up
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The (float32) scale of a group whose smallest value is `min` and largest `max`. */
export function gridScale(min: number, max: number, bits: QuantBits): number {
  let lo = Math.min(min, 0);
  let hi = Math.max(max, 0);
  hi = Math.max(Math.abs(lo), hi);
  if (lo < 0) lo = -hi;
  if (lo === 0 && hi === 0) {
    lo = -1;
    hi = 1;
  }
  return Math.fround((hi - lo) / maxCode(bits));
}

/** The code q ∈ [0, 2^bits − 1] of `x` on the grid of `scale`. */
export function gridCode(x: number, scale: number, bits: QuantBits): number {
  const q = roundHalfEven(x / scale) + zeroPoint(bits);
  return Math.min(Math.max(q, 0), maxCode(bits));
}
