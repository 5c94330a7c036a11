/**
 * Randomized truncated SVD: the leading `rank` singular triplets of a large matrix.
 *
 * Algorithm (Halko, Martinsson & Tropp, "Finding structure with randomness", SIAM Review 53,
 * 2011: Algorithm 4.4, randomized subspace iteration, then Algorithm 5.1, direct SVD):
 *   ℓ = min(rank + oversample, m, n);  Ω ~ N(0, 1)^{n×ℓ} (jax-js threefry, from `seed`/`key`)
 *   Q = orth(A Ω)
 *   repeat powerIters times:  Q = orth(A · orth(Aᵀ Q))     (re-orthonormalised every product)
 *   B = Qᵀ A (ℓ×n);  B = Ũ Σ Vᵀ (./svd.ts, float64);  U = Q Ũ[:, :rank]
 * orth() is the Householder QR of ./qr.ts (float64, host). The products with A are jax-js matmuls
 * in A's dtype (the heavy part: 2(2q+2)·mnℓ flops for q power iterations).
 * Results are sign-normalised (./sign-normalize.ts), so they depend only on the input and seed.
 *
 * Accuracy: with spectral decay, ‖A − U Σ Vᵀ‖ ≈ σ_{rank+1} times a small factor that shrinks
 * geometrically with powerIters (HMT §10); with ℓ = min(m, n) the result is exact up to
 * rounding. Defaults oversample = 10 and powerIters = 2 follow HMT's recommendations (and
 * scikit-learn's randomized_svd, which uses 2 iterations for small ranks).
 */
import { numpy as np, random } from "@jax-js/jax";
import {
  checkInteger,
  checkMatrix,
  type FloatDType,
  fromHost,
  jaxDType,
  toHost,
  transposeHost,
} from "./host.js";
import { formQ, householder } from "./qr.js";
import { signNormalize } from "./sign-normalize.js";
import { hostSvd, type SvdResult } from "./svd.js";

/** Options of {@link randomizedSvd} (Halko, Martinsson and Tropp's range finder). */
export interface RandomizedSvdOptions {
  /** Extra random directions beyond `rank` (default 10). */
  oversample?: number;
  /** Subspace (power) iterations (default 2). */
  powerIters?: number;
  /** Seed of the Gaussian test matrix (default 0); or pass `key`. */
  seed?: number;
  /** A jax-js PRNG key for the test matrix (consumed); overrides `seed`. */
  key?: np.Array;
}

/** Check the options shared by every randomized routine; returns the key to use. */
export function randomizedOptions(options: RandomizedSvdOptions): {
  oversample: number;
  powerIters: number;
  key: () => np.Array;
} {
  const oversample = checkInteger("oversample", options.oversample ?? 10, 0);
  const powerIters = checkInteger("powerIters", options.powerIters ?? 2, 0);
  if (options.key !== undefined && options.seed !== undefined) {
    throw new TypeError("pass either seed or key, not both");
  }
  if (options.key !== undefined && !(options.key instanceof np.Array)) {
    throw new TypeError("key must be a jax-js PRNG key (random.key(seed))");
  }
  const seed = checkInteger("seed", options.seed ?? 0, 0, 2 ** 32 - 1);
  const given = options.key;
  return { oversample, powerIters, key: () => given ?? random.key(seed) };
}

/** Householder Q (p×k, host) of host p×k data (overwritten). */
function basis(x: Float64Array, p: number, k: number): Float64Array {
  return formQ(householder(x, p, k), k);
}

/**
 * The leading `rank` singular triplets of a 2-D float32/float64 matrix: `u` m×rank, `s` rank
 * values (descending), `vt` rank×n, sign-normalised. Deterministic for a given seed/key.
 * Consumes `a` (and `options.key`).
 */
export function randomizedSvd(
  a: np.Array,
  rank: number,
  options: RandomizedSvdOptions = {},
): SvdResult {
  checkMatrix("randomizedSvd", a);
  const [m, n] = a.shape;
  checkInteger("rank", rank, 1, Math.min(m, n));
  const { oversample, powerIters, key } = randomizedOptions(options);
  const dtype = a.dtype as FloatDType;
  const l = Math.min(rank + oversample, m, n);
  // Every product is written X · matrixTranspose(Yᵀ) or matrixTranspose(Q)·A with contiguous
  // operands: jax-js 0.1.25's matmul X·Y with a contiguous K×N right operand is 10–20× slower
  // when N is not a multiple of 4 (measured: 2048×1024 by 1024×74, 258 ms against 18 ms).
  const omegaT = random.normal(key(), [l, n]).astype(jaxDType(dtype));
  let q = basis(toHost(np.matmul(a.ref, np.matrixTranspose(omegaT))), m, l); // m×l
  for (let i = 0; i < powerIters; i++) {
    const zT = np.matmul(np.matrixTranspose(fromHost(q, [m, l], dtype)), a.ref); // l×n = (Aᵀ Q)ᵀ
    const z = basis(transposeHost(toHost(zT), l, n), n, l); // n×l
    const y = np.matmul(a.ref, np.matrixTranspose(fromHost(transposeHost(z, n, l), [l, n], dtype)));
    q = basis(toHost(y), m, l);
  }
  const qArr = fromHost(q, [m, l], dtype);
  const b = np.matmul(np.matrixTranspose(qArr.ref), a); // l×n
  const small = hostSvd(toHost(b), l, n, false, dtype); // u l×l, vt l×n
  const uTopT = new Float64Array(rank * l); // Ũ[:, :rank]ᵀ
  for (let j = 0; j < rank; j++) {
    for (let i = 0; i < l; i++) uTopT[j * l + i] = small.u[i * l + j];
  }
  const u = np.matmul(qArr, np.matrixTranspose(fromHost(uTopT, [rank, l], dtype)));
  const vt = fromHost(small.vt.subarray(0, rank * n), [rank, n], dtype);
  const signed = signNormalize(u, vt);
  return { u: signed.u, s: fromHost(small.s.subarray(0, rank), [rank], dtype), vt: signed.vt };
}
