/**
 * Blockwise absmax quantisation to int8 / int4 codes packed into uint32 words, with
 * round-to-nearest or stochastic rounding.
 *
 * Per block of B consecutive elements (row-major order, the tail zero-padded):
 *   scale = max|x| / q_max,  y = x / scale ∈ [−q_max, q_max]
 *   nearest:     q = rint(y)                       |x − q·scale| ≤ scale/2
 *   stochastic:  q = ⌊y⌋ + [u < y − ⌊y⌋], u ~ U[0,1)   E[q·scale] = x,  |x − q·scale| < scale
 *   signed (default):  q ∈ [−q_max, q_max], q_max = 127 (int8) or 7 (int4), stored as q + 2^(bits−1)
 *   unsigned (for non-negative data such as Adam's second moment): q ∈ [0, 2^bits − 1],
 *     q_max = 255 or 15, negative inputs clamp to 0.
 * Codes are packed 32/bits per uint32 word, code j of a word in bits [j·bits, (j+1)·bits), so a
 * quantised tensor really takes bits/8 bytes per element plus 4 bytes per block for its
 * float32 scale (jax-js has no int8 dtype). Packing and unpacking are jax-js shifts, masks and
 * a sum (no JavaScript loop over the data).
 *
 * References: Dettmers et al., "8-bit Optimizers via Block-wise Quantization", ICLR 2022
 * (blockwise absmax; bitsandbytes uses a non-linear dynamic code map, here the map is linear);
 * Zhang et al., "Q-GaLore", 2024 (INT4 projections, stochastic rounding); Gupta et al.,
 * "Deep learning with limited numerical precision", ICML 2015 (stochastic rounding).
 * Checked in test/linalg/quantize.test.ts against the error bounds and unbiasedness above.
 */
import { numpy as np, random } from "@jax-js/jax";
import { checkInteger } from "./host.js";

/** Bits per quantised code. */
export type QuantBits = 4 | 8;

/** Options of {@link quantize}. */
export interface QuantizeOptions {
  /** Bits per code: 8 (default) or 4. */
  bits?: QuantBits;
  /** Elements per block sharing one scale (default 256; a multiple of 32/bits). */
  blockSize?: number;
  /** Stochastic rounding (needs `key`); default false: round to nearest (ties to even). */
  stochastic?: boolean;
  /** PRNG key for stochastic rounding (consumed). */
  key?: np.Array;
  /** Signed codes (default true); false for non-negative data (twice the resolution). */
  signed?: boolean;
}

/** A quantised tensor: a plain tree of arrays and numbers (stateBytes counts the arrays). */
export interface Quantized {
  /** uint32 words, 32/bits codes each. */
  codes: np.Array;
  /** float32, one scale per block. */
  scales: np.Array;
  shape: number[];
  bits: QuantBits;
  blockSize: number;
  signed: boolean;
}

function codeRange(
  bits: QuantBits,
  signed: boolean,
): { qmin: number; qmax: number; offset: number } {
  if (signed) {
    const half = 2 ** (bits - 1);
    return { qmin: -(half - 1), qmax: half - 1, offset: half };
  }
  return { qmin: 0, qmax: 2 ** bits - 1, offset: 0 };
}

function checkOptions(options: QuantizeOptions): {
  bits: QuantBits;
  blockSize: number;
  stochastic: boolean;
  signed: boolean;
} {
  const bits = options.bits ?? 8;
  if (bits !== 8 && bits !== 4) {
    throw new RangeError(`bits must be one of 8, 4; got ${JSON.stringify(bits)}`);
  }
  const perWord = 32 / bits;
  const blockSize = checkInteger("blockSize", options.blockSize ?? 256, perWord);
  if (blockSize % perWord !== 0) {
    throw new RangeError(
      `blockSize must be a multiple of ${perWord} for ${bits}-bit codes, got ${blockSize}`,
    );
  }
  const stochastic = options.stochastic ?? false;
  const signed = options.signed ?? true;
  for (const [name, v] of [
    ["stochastic", stochastic],
    ["signed", signed],
  ] as const) {
    if (typeof v !== "boolean")
      throw new TypeError(`${name} must be true or false, got ${JSON.stringify(v)}`);
  }
  if (stochastic && !(options.key instanceof np.Array)) {
    throw new TypeError("stochastic rounding needs a PRNG key (key: random.key(seed))");
  }
  if (!stochastic && options.key !== undefined) {
    throw new TypeError("key is only used with stochastic: true");
  }
  return { bits, blockSize, stochastic, signed };
}

/** Shift amounts of the codes within a word, shape [1, 32/bits]. */
const shifts = (bits: QuantBits) =>
  np
    .arange(0, 32, bits, { dtype: np.int32 })
    .astype(np.uint32)
    .reshape([1, 32 / bits]);

/** Quantise a float array blockwise (see the file header). Consumes `x` and `options.key`. */
export function quantize(x: np.Array, options: QuantizeOptions = {}): Quantized {
  if (!(x instanceof np.Array)) throw new TypeError("quantize: expected a jax-js array");
  if (x.dtype !== "float32" && x.dtype !== "float64" && x.dtype !== "float16") {
    throw new TypeError(`quantize: dtype must be a float type, got ${x.dtype}`);
  }
  const { bits, blockSize, stochastic, signed } = checkOptions(options);
  const { qmin, qmax, offset } = codeRange(bits, signed);
  const shape = x.shape;
  const size = x.size;
  if (size === 0) throw new RangeError("quantize: empty array");
  const blocks = Math.max(1, Math.ceil(size / blockSize));
  let flat = x.reshape([-1]).astype(np.float32);
  if (blocks * blockSize > size) flat = np.pad(flat, [[0, blocks * blockSize - size]]);
  const grid = flat.reshape([blocks, blockSize]);
  const scales = np.max(np.abs(grid.ref), 1, { keepdims: true }).div(qmax);
  const y = grid.div(np.where(np.greater(scales.ref, 0), scales.ref, 1));
  let q: np.Array;
  if (stochastic) {
    const u = random.uniform(options.key!, [blocks, blockSize]);
    const low = np.floor(y.ref);
    q = low.ref.add(np.less(u, y.sub(low)).astype(np.float32));
  } else q = np.rint(y);
  const perWord = 32 / bits;
  const codes = np
    .clip(q, qmin, qmax)
    .add(offset)
    .astype(np.uint32)
    .reshape([(blocks * blockSize) / perWord, perWord]);
  return {
    codes: np.leftShift(codes, shifts(bits)).sum(1),
    scales: scales.reshape([blocks]),
    shape,
    bits,
    blockSize,
    signed,
  };
}

/** Reconstruct the array (float32 by default) from {@link quantize}'s result. Consumes `q`'s arrays. */
export function dequantize(
  q: Quantized,
  options: { dtype?: "float32" | "float64" } = {},
): np.Array {
  const { codes, scales, shape, bits, blockSize, signed } = q;
  if (!(codes instanceof np.Array) || codes.dtype !== "uint32") {
    throw new TypeError("dequantize: codes must be a uint32 jax-js array");
  }
  if (bits !== 8 && bits !== 4) throw new RangeError(`bits must be one of 8, 4; got ${bits}`);
  const { offset } = codeRange(bits, signed ?? true);
  const perWord = 32 / bits;
  const size = shape.reduce((a, b) => a * b, 1);
  const blocks = scales.shape[0];
  if (codes.size * perWord !== blocks * blockSize || size > blocks * blockSize) {
    throw new RangeError("dequantize: codes, scales, shape and blockSize do not agree");
  }
  const values = np
    .bitwiseAnd(np.rightShift(codes.reshape([-1, 1]), shifts(bits)), 2 ** bits - 1)
    .astype(np.float32)
    .sub(offset)
    .reshape([blocks, blockSize])
    .mul(scales.reshape([blocks, 1]))
    .reshape([-1]);
  const out = (size < blocks * blockSize ? values.slice([0, size]) : values).reshape(shape);
  return options.dtype === "float64" ? out.astype(np.float64) : out;
}
