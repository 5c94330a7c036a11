/**
 * Multi-level orthonormal Haar wavelet transform along one axis, and its exact inverse.
 *
 * One level maps a signal x of even length L to
 *   a_j = (x_{2j} + x_{2j+1}) / √2   (approximation, length L/2)
 *   d_j = (x_{2j} − x_{2j+1}) / √2   (detail, length L/2)
 * and inverts by x_{2j} = (a_j + d_j)/√2, x_{2j+1} = (a_j − d_j)/√2. Level ℓ + 1 transforms the
 * approximation of level ℓ. The transform is orthogonal, so energy Σx² = Σa² + Σ_ℓ Σd_ℓ² is
 * preserved. Conventions follow pywt.wavedec(x, "haar", mode="periodization", level=L):
 * the packed layout is [a_L, d_L, d_{L−1}, …, d_1] along the axis. In `details`, index 0 is the
 * finest level (d_1, length L/2) and the last is the coarsest.
 *
 * Lengths: the axis length must be divisible by 2^levels, else a RangeError (pad the signal
 * yourself, e.g. with np.pad, and crop after the inverse; `maxHaarLevels(n)` gives the most
 * levels n allows). Reference: Mallat, "A Wavelet Tour of Signal Processing", ch. 7; the Haar
 * filters (1, 1)/√2 and (1, −1)/√2. Checked against hand-computed coefficients.
 */
import { numpy as np } from "@jax-js/jax";
import { checkInteger, checkOneOf, jaxDType } from "./host.js";

/** A multi-level Haar transform: the coarsest approximation and the details of every level. */
export interface HaarCoefficients {
  /** Approximation after the last level (axis length n / 2^levels). */
  approximation: np.Array;
  /** Details per level, finest first: details[ℓ] has axis length n / 2^(ℓ+1). */
  details: np.Array[];
}

/** The most levels a length allows (how many times it halves evenly). */
export function maxHaarLevels(n: number): number {
  checkInteger("n", n, 1);
  let levels = 0;
  while (n % 2 === 0) {
    n /= 2;
    levels++;
  }
  return levels;
}

function checkFloat(name: string, x: unknown): asserts x is np.Array {
  if (!(x instanceof np.Array)) throw new TypeError(`${name}: expected a jax-js array`);
  if (x.dtype !== "float32" && x.dtype !== "float64") {
    throw new TypeError(`${name}: dtype must be float32 or float64, got ${x.dtype}`);
  }
}

function normalizeAxis(name: string, axis: number, ndim: number): number {
  if (!Number.isInteger(axis) || axis < -ndim || axis >= ndim) {
    throw new RangeError(`${name}: axis must be an integer in [${-ndim}, ${ndim}), got ${axis}`);
  }
  return axis < 0 ? axis + ndim : axis;
}

/** Split the last axis into its even and odd entries. Consumes x. */
function evenOdd(x: np.Array): [np.Array, np.Array] {
  const lead = x.shape.slice(0, -1);
  const half = x.shape[x.ndim - 1] / 2;
  const pairs = x.reshape([...lead, half, 2]);
  const keep = lead.map((): [] => []);
  return [pairs.ref.slice(...keep, [], 0), pairs.slice(...keep, [], 1)];
}

/** Interleave two arrays along the last axis: [e_0, o_0, e_1, o_1, ...]. Consumes both. */
function interleave(even: np.Array, odd: np.Array): np.Array {
  const shape = even.shape;
  return np.stack([even, odd], -1).reshape([...shape.slice(0, -1), shape[shape.length - 1] * 2]);
}

/**
 * Haar transform of `x` along `axis` (default −1) for `levels` levels (≥ 0). Consumes `x`.
 */
export function haarForward(x: np.Array, levels: number, axis = -1): HaarCoefficients {
  checkFloat("haarForward", x);
  checkInteger("levels", levels, 0);
  const ax = normalizeAxis("haarForward", axis, x.ndim);
  const n = x.shape[ax];
  if (n % 2 ** levels !== 0) {
    throw new RangeError(
      `haarForward: length ${n} along axis ${ax} is not divisible by 2^levels = ${2 ** levels}; ` +
        `pad it or use levels ≤ ${maxHaarLevels(n)}`,
    );
  }
  const c = Math.SQRT1_2;
  let a = np.moveaxis(x, ax, -1);
  const details: np.Array[] = [];
  for (let level = 0; level < levels; level++) {
    const [even, odd] = evenOdd(a);
    a = even.ref.add(odd.ref).mul(c);
    details.push(np.moveaxis(even.sub(odd).mul(c), -1, ax));
  }
  return { approximation: np.moveaxis(a, -1, ax), details };
}

/** Exact inverse of {@link haarForward} along `axis` (default −1). Consumes the coefficients. */
export function haarInverse(coefficients: HaarCoefficients, axis = -1): np.Array {
  const { approximation, details } = coefficients;
  checkFloat("haarInverse", approximation);
  const ax = normalizeAxis("haarInverse", axis, approximation.ndim);
  const c = Math.SQRT1_2;
  let a = np.moveaxis(approximation, ax, -1);
  for (let level = details.length - 1; level >= 0; level--) {
    const d = np.moveaxis(details[level], ax, -1);
    if (d.shape.join() !== a.shape.join()) {
      throw new RangeError(
        `haarInverse: details[${level}] has shape [${d.shape}] along the moved axis, expected [${a.shape}]`,
      );
    }
    a = interleave(a.ref.add(d.ref).mul(c), a.sub(d).mul(c));
  }
  return np.moveaxis(a, -1, ax);
}

/** Packed layout [a_L, d_L, …, d_1] along `axis` (pywt.wavedec order). Consumes the coefficients. */
export function haarPack(coefficients: HaarCoefficients, axis = -1): np.Array {
  const { approximation, details } = coefficients;
  return np.concatenate([approximation, ...details.slice().reverse()], axis);
}

/** Split a packed array (see {@link haarPack}) back into coefficients. Consumes `packed`. */
export function haarUnpack(packed: np.Array, levels: number, axis = -1): HaarCoefficients {
  checkFloat("haarUnpack", packed);
  checkInteger("levels", levels, 0);
  const ax = normalizeAxis("haarUnpack", axis, packed.ndim);
  const n = packed.shape[ax];
  if (n % 2 ** levels !== 0) {
    throw new RangeError(`haarUnpack: length ${n} is not divisible by 2^levels = ${2 ** levels}`);
  }
  // Boundaries: a_L | d_L | … | d_1 with lengths n/2^L, n/2^L, n/2^(L−1), …, n/2.
  const cuts: number[] = [];
  for (let level = levels; level >= 1; level--) cuts.push(n / 2 ** level);
  const parts = np.split(packed, cuts, ax);
  const approximation = parts[0];
  const details = parts.slice(1).reverse();
  return { approximation, details };
}

/**
 * The n×n orthogonal matrix H of the `levels`-level transform in packed layout: for a vector x,
 * H x = haarPack(haarForward(x, levels)). Rows are the Haar basis functions.
 */
export function haarBasis(
  n: number,
  levels: number,
  options: { dtype?: "float32" | "float64" } = {},
): np.Array {
  checkInteger("n", n, 1);
  const dtype = checkOneOf("dtype", options.dtype ?? "float32", ["float32", "float64"]);
  return haarPack(haarForward(np.eye(n, n, { dtype: jaxDType(dtype) }), levels, 0), 0);
}
