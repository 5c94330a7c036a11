/**
 * Domain weights on the probability simplex: plain float64 arrays (JSON round-trips them
 * bit-exactly, so a checkpoint restores them as they were). Shared by the mixing rules.
 *
 * - `normalize`: w / Σw (throws on a negative, non-finite or all-zero vector);
 * - `smoothWithUniform`: (1 − c)·w + c/k, the mix with the uniform distribution that DoReMi and
 *   EXP3 use to keep every domain's weight at least c/k;
 * - `exponentiatedStep`: w ⊙ exp(η·g) / Z, computed as a softmax of log w + η·g shifted by its
 *   maximum so large gains do not overflow (the mirror-descent step on the simplex).
 */

/** Throw unless `w` is a probability vector (non-negative, finite, sums to 1 within 1e-9). */
export function checkSimplex(w: readonly number[], what = "weights"): void {
  if (w.length === 0) throw new RangeError(`${what}: empty`);
  let sum = 0;
  for (const x of w) {
    if (!Number.isFinite(x) || x < 0) throw new RangeError(`${what}: ${x} is not a weight`);
    sum += x;
  }
  if (Math.abs(sum - 1) > 1e-9) throw new RangeError(`${what}: sum ${sum}, not 1`);
}

/** w / Σw. */
export function normalize(w: readonly number[]): number[] {
  let sum = 0;
  for (const x of w) {
    if (!Number.isFinite(x) || x < 0) throw new RangeError(`normalize: ${x} is not a weight`);
    sum += x;
  }
  if (!(sum > 0)) throw new RangeError("normalize: all weights are zero");
  return w.map((x) => x / sum);
}

/** The uniform distribution over `k` domains. */
export const uniform = (k: number): number[] => new Array<number>(k).fill(1 / k);

/** (1 − c)·w + c/k. */
export function smoothWithUniform(w: readonly number[], c: number): number[] {
  return w.map((x) => (1 - c) * x + c / w.length);
}

/** w ⊙ exp(η·g), normalised (a softmax of log w + η·g). Zero weights stay zero. */
export function exponentiatedStep(
  w: readonly number[],
  g: readonly number[],
  eta: number,
): number[] {
  if (g.length !== w.length) throw new RangeError("exponentiatedStep: length mismatch");
  const logits = w.map((x, i) => Math.log(x) + eta * g[i]!);
  const top = Math.max(...logits.filter((x) => x > -Infinity));
  return normalize(logits.map((x) => (x === -Infinity ? 0 : Math.exp(x - top))));
}
