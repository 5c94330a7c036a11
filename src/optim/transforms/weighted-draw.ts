/**
 * r distinct indices of [0, n) drawn one after another, each with probability proportional to its
 * weight among those not yet drawn — the law of torch.multinomial(weights, r, replacement=False),
 * which Sparse Spectral Training samples its singular vectors with — on the library's PRNG, so a
 * run (and its reference script, tools/fixtures/round2d_sst.py) draws the same indices:
 *   x = (next uint32 / 2³²)·(sum of the weights left);  pick the first index left whose running
 *   sum (in index order, float64) exceeds x (the last one left if rounding leaves none).
 * Returned sorted ascending. O(r·n) on the host, once per draw (not per step).
 */
import type { Xoshiro128 } from "../../engine/rng.js";

export function drawWithoutReplacement(
  gen: Xoshiro128,
  weights: ArrayLike<number>,
  r: number,
): number[] {
  const n = weights.length;
  if (!Number.isInteger(r) || r < 0 || r > n) {
    throw new RangeError(`draw: r must be an integer in [0, ${n}], got ${r}`);
  }
  const left = Array.from({ length: n }, (_, i) => i);
  const picked: number[] = [];
  for (let j = 0; j < r; j++) {
    let total = 0;
    for (const i of left) total += weights[i];
    const x = (gen.nextUint32() / 0x100000000) * total;
    let at = left.length - 1;
    let running = 0;
    for (let q = 0; q < left.length; q++) {
      running += weights[left[q]];
      if (running > x) {
        at = q;
        break;
      }
    }
    picked.push(left[at]);
    left.splice(at, 1);
  }
  return picked.sort((a, b) => a - b);
}
