/**
 * Seeded random initialisations drawn on the library's PRNG (src/engine/rng.ts), so that a
 * reference script draws the same values (tools/fixtures/xoshiro.py; round2d_sltrain.py):
 * - uniformHost: x = (2u − 1)·bound with u = next uint32 / 2³², in float64, stored as float32
 *   (torch's uniform_(−bound, bound) law, not its stream);
 * - randomSupport: the first `count` entries of a Fisher–Yates permutation of 0 … size−1
 *   (j = below(i + 1) for i = size−1 … 1, as layer-blocks.ts `shuffled`), sorted — the law of
 *   torch.randperm(size)[:count].sort() that SLTrain draws its sparse support with.
 * Host loops over every entry: for initialisation only, never per step.
 */
import type { Xoshiro128 } from "../../engine/rng.js";

/** `count` values uniform in (−bound, bound). */
export function uniformHost(gen: Xoshiro128, count: number, bound: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = ((gen.nextUint32() / 0x100000000) * 2 - 1) * bound;
  return out;
}

/**
 * The size of SLTrain's support for density δ on an m×n matrix: ⌊δ·m·n⌋ (the authors'
 * int(sp_ratio · numel)); the optimizer-side sltrain and the model option (nn/sparse-model.ts)
 * share it.
 */
export const supportCount = (density: number, m: number, n: number): number =>
  Math.floor(density * m * n);

/** `count` distinct indices of [0, size), uniformly at random, ascending. */
export function randomSupport(gen: Xoshiro128, size: number, count: number): Int32Array {
  const order = new Int32Array(size);
  for (let i = 0; i < size; i++) order[i] = i;
  for (let i = size - 1; i > 0; i--) {
    const j = gen.below(i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order.slice(0, count).sort();
}
