/**
 * Deterministic train/validation split: the last `valFraction` of the token stream is validation,
 * the rest is training. A contiguous tail (rather than random windows) keeps validation text
 * unseen by training windows, except for the one boundary position. Both parts are views of the
 * input (no copy).
 */

/** Options of {@link splitTokens}. */
export interface SplitOptions {
  /** Share of tokens held out for validation, in [0, 1). Default 0.1. */
  valFraction?: number;
}

/** The two parts of a token stream (views of it, not copies). */
export interface Split {
  train: Int32Array;
  val: Int32Array;
}

export const DEFAULT_VAL_FRACTION = 0.1;

/**
 * Split a token stream into training tokens and a validation tail (the last `valFraction`, default
 * 0.1).
 */
export function splitTokens(tokens: Int32Array, opts: SplitOptions = {}): Split {
  const valFraction = opts.valFraction ?? DEFAULT_VAL_FRACTION;
  if (typeof valFraction !== "number" || !(valFraction >= 0 && valFraction < 1)) {
    throw new RangeError(`valFraction: expected a number in [0, 1), got ${valFraction}`);
  }
  const valLength = Math.floor(tokens.length * valFraction);
  const cut = tokens.length - valLength;
  if (cut === 0) throw new RangeError("splitTokens: no tokens left for training");
  return { train: tokens.subarray(0, cut), val: tokens.subarray(cut) };
}
