/**
 * Orthonormal DCT-II basis: the n×n matrix C with
 *   C[k, i] = s_k cos(π (i + ½) k / n),   s_0 = √(1/n),  s_k = √(2/n) for k ≥ 1.
 * Rows are the basis vectors (row k = frequency k), so y = C x is the orthonormal DCT-II of x
 * (scipy.fft.dct(x, type=2, norm="ortho")), x = Cᵀ y inverts it, and C Cᵀ = I.
 *
 * How: the angle is π r / (2n) with r = (2i + 1) k mod 4n, an exact integer (int32 arithmetic),
 * so only 4n distinct cosines exist; they are computed once on the host in float64 and gathered
 * with jax-js (`take`). This avoids float32 argument error for large i·k and per-element
 * JavaScript. Entries are accurate to rounding in the output dtype.
 * Reference: Ahmed, Natarajan & Rao, "Discrete cosine transform", IEEE Trans. Computers, 1974;
 * the formula is checked entry-wise against Math.cos in test/linalg/dct.test.ts.
 */
import { numpy as np } from "@jax-js/jax";
import { checkInteger, checkOneOf, type FloatDType, fromHost } from "./host.js";

export interface DctOptions {
  /** Output dtype (default float32). */
  dtype?: FloatDType;
}

/** The largest n accepted (keeps (2i + 1) k mod 4n within int32; the matrix is then 1 GiB). */
const MAX_N = 16384;

/** The n×n orthonormal DCT-II matrix (rows are basis vectors). */
export function dctBasis(n: number, options: DctOptions = {}): np.Array {
  checkInteger("n", n, 1, MAX_N);
  const dtype = checkOneOf("dtype", options.dtype ?? "float32", ["float32", "float64"]);
  const period = 4 * n;
  const table = new Float64Array(period);
  for (let r = 0; r < period; r++) table[r] = Math.cos((Math.PI * r) / (2 * n));
  const k = np.arange(0, n, 1, { dtype: np.int32 }).reshape([n, 1]);
  const odd = np.arange(1, 2 * n, 2, { dtype: np.int32 }).reshape([1, n]); // 2i + 1 < 4n
  const r = np.remainder(k.mul(odd), period);
  const cosines = np.take(fromHost(table, [period], dtype), r.reshape([-1])).reshape([n, n]);
  const scale = new Float64Array(n).fill(Math.sqrt(2 / n));
  scale[0] = Math.sqrt(1 / n);
  return cosines.mul(fromHost(scale, [n, 1], dtype));
}
