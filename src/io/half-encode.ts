/**
 * float32 → float16 / bfloat16 bit patterns, as PyTorch's `x.to(torch.float16)` and
 * `x.to(torch.bfloat16)` give them on the CPU (torch 1.13; test/fixtures/half_precision.json from
 * tools/fixtures/half_precision.py, compared bit for bit), so half-precision files can be written
 * on runtimes without Float16Array and without jax-js float16 arithmetic (wasm has none).
 *
 * Rule: round to nearest, ties to even. float16: subnormals rounded at 2^-24 steps, |x| ≥ 65520
 * (half-way past the largest finite half, 65504) → ±Inf, NaN → sign | 0x7E00 (quiet, payload
 * dropped). bfloat16: the top 16 bits rounded (largest float32s round to ±Inf, as in PyTorch),
 * NaN → 0xFFFF: PyTorch 1.13's vectorised CPU kernel, which every CPU conversion of a tensor goes
 * through (its scalar c10::BFloat16 gives 0x7FC0; both are NaN).
 *
 * Vectorised: one jit'ed jax-js kernel over the whole array (bitcast to uint32, shifts, masks,
 * selects; float16 subnormals by the exact float add |x| + 0.5, whose rounding is the wanted
 * one), then the uint32 results narrowed to 16 bits by a typed-array copy. No per-element loop.
 */
import { jit, lax, numpy as np } from "@jax-js/jax";

const u32 = (v: number) => np.array(v >>> 0, { dtype: np.uint32 });

/** bfloat16 bits (in uint32) of float32 `x`. Consumes x. */
function bf16Bits(x: np.Array): np.Array {
  const bits = lax.bitcastConvertType(x, np.uint32);
  const abs = np.bitwiseAnd(bits.ref, u32(0x7fffffff));
  const sign = np.bitwiseAnd(np.rightShift(bits, u32(16)), u32(0x8000));
  const lsb = np.bitwiseAnd(np.rightShift(abs.ref, u32(16)), u32(1));
  const rounded = np.rightShift(abs.ref.add(u32(0x7fff)).add(lsb), u32(16));
  const nan = np.greater(abs, u32(0x7f800000));
  return np.where(nan, u32(0xffff), np.bitwiseOr(sign, rounded));
}

/** float16 bits (in uint32) of float32 `x`. Consumes x. */
function f16Bits(x: np.Array): np.Array {
  const bits = lax.bitcastConvertType(x, np.uint32);
  const abs = np.bitwiseAnd(bits.ref, u32(0x7fffffff));
  const sign = np.bitwiseAnd(np.rightShift(bits, u32(16)), u32(0x8000));
  // Normal halves: rebias the exponent (127 → 15), round the 13 dropped mantissa bits to even;
  // a carry moves into the exponent, as it should.
  const lsb = np.bitwiseAnd(np.rightShift(abs.ref, u32(13)), u32(1));
  const normal = np.rightShift(
    abs.ref
      .sub(u32(112 << 23))
      .add(u32(0xfff))
      .add(lsb),
    u32(13),
  );
  // Subnormal halves (|x| < 2^-14): 0.5 + |x| is exact up to 2^-24 steps and float32 addition
  // rounds to even, so its mantissa is the half's (0x400 when it rounds up to 2^-14).
  const absFloat = lax.bitcastConvertType(abs.ref, np.float32);
  const sub = lax.bitcastConvertType(absFloat.add(0.5), np.uint32).sub(u32(0x3f000000));
  const finite = np.where(np.less(abs.ref, u32(0x38800000)), sub, normal);
  const big = np.where(
    np.greater(abs.ref, u32(0x7f800000)),
    u32(0x7e00),
    u32(0x7c00), // 65520 ≤ |x| ≤ Inf
  );
  const magnitude = np.where(np.greaterEqual(abs, u32(0x477ff000)), big, finite);
  return np.bitwiseOr(sign, magnitude);
}

const kernels = { float16: jit(f16Bits), bfloat16: jit(bf16Bits) };

/** The half-precision formats {@link encodeHalf} writes. */
export type HalfFormat = "float16" | "bfloat16";

/**
 * The bit patterns of float32 `x` (any shape, C order) in `format`, as PyTorch converts them.
 * Consumes x.
 */
export async function encodeHalf(x: np.Array, format: HalfFormat): Promise<Uint16Array> {
  if (x.dtype !== np.float32) {
    const dtype = x.dtype;
    x.dispose();
    throw new TypeError(`encodeHalf: expected a float32 array, got ${dtype}`);
  }
  if (x.size === 0) {
    x.dispose();
    return new Uint16Array(0);
  }
  const words = (await kernels[format](x.reshape([-1])).data()) as Uint32Array;
  return new Uint16Array(words); // narrowing copy: every word is below 2^16
}
