/**
 * float16 / bfloat16 bit patterns → float32 arrays, exactly (every half value is a float32 one;
 * NaN payloads kept in the top mantissa bits, as safetensors-dtypes.ts's host widening does), as
 * one jit'ed jax-js kernel over the whole tensor: the 16-bit words go up as uint32 (a native
 * typed-array widening, no per-element JS), then shifts, masks and selects.
 *
 * bfloat16: the word shifted left by 16. float16: sign to bit 31; a normal or Inf/NaN exponent
 * rebiased (15 → 127; 31 → 255) with the mantissa shifted left by 13; a subnormal, m·2^-24, is
 * computed as a float32 product, which is exact.
 *
 * Used by the lazy safetensors reader (safetensors-lazy.ts), so that merge streams half-precision
 * checkpoints without a per-element loop and without Float16Array.
 */
import { jit, lax, numpy as np } from "@jax-js/jax";
import type { HalfFormat } from "./half-encode.js";

const u32 = (v: number) => np.array(v >>> 0, { dtype: np.uint32 });

function bf16ToFloat(h: np.Array): np.Array {
  return lax.bitcastConvertType(np.leftShift(h, u32(16)), np.float32);
}

function f16ToFloat(h: np.Array): np.Array {
  const sign = np.leftShift(np.bitwiseAnd(h.ref, u32(0x8000)), u32(16));
  const exp = np.bitwiseAnd(np.rightShift(h.ref, u32(10)), u32(0x1f));
  const man = np.bitwiseAnd(h, u32(0x3ff));
  const normal = np.bitwiseOr(
    np.leftShift(exp.ref.add(u32(112)), u32(23)),
    np.leftShift(man.ref, u32(13)),
  );
  const special = np.bitwiseOr(u32(0x7f800000), np.leftShift(man.ref, u32(13)));
  const tiny = lax.bitcastConvertType(man.astype(np.float32).mul(2 ** -24), np.uint32);
  const magnitude = np.where(
    np.equal(exp.ref, u32(0)),
    tiny,
    np.where(np.equal(exp, u32(31)), special, normal),
  );
  return lax.bitcastConvertType(np.bitwiseOr(sign, magnitude), np.float32);
}

const kernels = { float16: jit(f16ToFloat), bfloat16: jit(bf16ToFloat) };

/** A new float32 array of `shape` from half-precision words in `format` (C order). */
export function decodeHalf(words: Uint16Array, format: HalfFormat, shape: number[]): np.Array {
  const size = shape.reduce((a, b) => a * b, 1);
  if (words.length !== size) throw new RangeError("decodeHalf: word count does not match shape");
  if (size === 0) return np.zeros(shape, { dtype: np.float32 });
  const wide = np.array(new Uint32Array(words), { dtype: np.uint32, shape: [size] });
  return kernels[format](wide).reshape(shape);
}
