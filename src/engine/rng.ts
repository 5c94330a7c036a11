/**
 * A small deterministic PRNG whose whole state is four plain numbers, so it can be saved in a JSON
 * checkpoint and resumed exactly.
 *
 * xoshiro128** (Blackman & Vigna, "Scrambled linear pseudorandom number generators", 2018;
 * reference C at prng.di.unimi.it/xoshiro128starstar.c), on uint32 words s0..s3:
 *   out = rotl(s1 * 5, 7) * 9
 *   t = s1 << 9;  s2 ^= s0;  s3 ^= s1;  s1 ^= s2;  s0 ^= s3;  s2 ^= t;  s3 = rotl(s3, 11)
 * Checked against the reference outputs for the state {1, 2, 3, 4}.
 *
 * Seeding (our choice; the authors suggest any well-mixed non-zero state): the seed, folded to
 * 32 bits, starts a Weyl sequence x += 0x9e3779b9 whose values go through the murmur3 fmix32
 * finaliser, giving s0..s3.
 */

const fmix32 = (h: number): number => {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
};

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;

export class Xoshiro128 {
  private s: Uint32Array;

  /** Start from a raw state of four uint32 words (not all zero). */
  constructor(state: readonly number[]) {
    if (
      !Array.isArray(state) ||
      state.length !== 4 ||
      !state.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff)
    ) {
      throw new TypeError("Xoshiro128: state must be four integers in [0, 2^32)");
    }
    if (state.every((w) => w === 0)) throw new RangeError("Xoshiro128: state must not be all zero");
    this.s = Uint32Array.from(state);
  }

  /** Seed from any safe integer (the high bits are folded into the low 32). */
  static fromSeed(seed: number): Xoshiro128 {
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(`seed: expected a safe integer, got ${seed}`);
    }
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 0x100000000) >>> 0;
    let x = (lo ^ fmix32(hi)) >>> 0;
    const state: number[] = [];
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      state.push(fmix32(x));
    }
    if (!state.some((w) => w !== 0)) state[0] = 1;
    return new Xoshiro128(state);
  }

  /** Next uint32. */
  nextUint32(): number {
    const s = this.s;
    const out = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return out;
  }

  /** Uniform integer in [0, n), n ≤ 2^32, without modulo bias (rejection sampling). */
  below(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 0x100000000) {
      throw new RangeError(`below: n must be an integer in [1, 2^32], got ${n}`);
    }
    const limit = Math.floor(0x100000000 / n) * n;
    let r = this.nextUint32();
    while (r >= limit) r = this.nextUint32();
    return r % n;
  }

  /** The four state words, as plain numbers (for checkpoints). */
  state(): number[] {
    return Array.from(this.s);
  }
}
