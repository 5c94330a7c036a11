/**
 * ggml's storage types for GGUF tensors, byte for byte as ggml defines them (ggml-common.h block
 * layouts, ggml-quants.c quantize_row_q8_0_ref / quantize_row_q4_0_ref, read not copied):
 *
 * - F16: IEEE half precision, round to nearest even (GGML_FP32_TO_FP16).
 * - Q8_0: blocks of 32 values: f16 scale d = max|x| / 127, then 32 int8 q = round(x / d)
 *   (roundf: ties away from zero); 34 bytes.
 * - Q4_0: blocks of 32 values: m = the value of largest magnitude (sign kept), d = m / -8,
 *   f16 d, then 16 bytes: byte j holds value j in its low nibble and value j + 16 in its high
 *   nibble, each min(15, trunc(x / d + 8.5)); 18 bytes. A value decodes as (nibble - 8) · d.
 *
 * The scale used for the quotients is the float32 d (as ggml does), not its f16 rounding. A zero
 * block has d = 0 and all quotients 0 (q4_0: nibble 8). Rows must be a multiple of 32 long.
 * These are host-side loops over typed arrays: serialisation, run once per export.
 */

/** ggml tensor type ids (ggml.h enum ggml_type). */
export const GGML_TYPE = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8 } as const;
/** The export types the CLI accepts. */
export const EXPORT_TYPES = ["f32", "f16", "q8_0", "q4_0"] as const;
/** One of {@link EXPORT_TYPES}. */
export type ExportType = (typeof EXPORT_TYPES)[number];

/** Values per quantisation block (QK8_0 = QK4_0 = 32). */
export const QK = 32;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The IEEE half-precision bits of `x`, rounded to nearest even (overflow → ±inf). */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent, up to inf: the right rounding.
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

/** Float32 values as F16 bytes (little-endian). */
export function toF16(values: Float32Array): Uint8Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]!);
  return new Uint8Array(out.buffer);
}

/** C's roundf: half-way cases away from zero. */
const roundf = (x: number) => Math.sign(x) * Math.floor(Math.abs(x) + 0.5);

function checkBlocks(values: Float32Array): number {
  if (values.length % QK !== 0) {
    throw new RangeError(`quantisation needs a multiple of ${QK} values, got ${values.length}`);
  }
  return values.length / QK;
}

/** Float32 values as Q8_0 blocks (34 bytes per 32 values). */
export function toQ8_0(values: Float32Array): Uint8Array {
  const blocks = checkBlocks(values);
  const out = new Uint8Array(blocks * 34);
  const view = new DataView(out.buffer);
  const scale = new Float32Array(1);
  for (let b = 0; b < blocks; b++) {
    const base = b * QK;
    let amax = 0;
    for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(values[base + j]!));
    scale[0] = amax / 127; // float32 arithmetic, as in C
    const d = scale[0]!;
    scale[0] = d !== 0 ? 1 / d : 0;
    const id = scale[0]!;
    view.setUint16(b * 34, f32ToF16Bits(d), true);
    for (let j = 0; j < QK; j++) {
      scale[0] = values[base + j]! * id;
      view.setInt8(b * 34 + 2 + j, roundf(scale[0]!));
    }
  }
  return out;
}

/** Float32 values as Q4_0 blocks (18 bytes per 32 values). */
export function toQ4_0(values: Float32Array): Uint8Array {
  const blocks = checkBlocks(values);
  const out = new Uint8Array(blocks * 18);
  const view = new DataView(out.buffer);
  const tmp = new Float32Array(1);
  const nibble = (x: number, id: number) => {
    tmp[0] = x * id;
    tmp[0] = tmp[0]! + 8.5;
    return Math.min(15, Math.trunc(tmp[0]!));
  };
  for (let b = 0; b < blocks; b++) {
    const base = b * QK;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK; j++) {
      const v = values[base + j]!;
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    tmp[0] = max / -8;
    const d = tmp[0]!;
    tmp[0] = d !== 0 ? 1 / d : 0;
    const id = tmp[0]!;
    view.setUint16(b * 18, f32ToF16Bits(d), true);
    for (let j = 0; j < QK / 2; j++) {
      const lo = nibble(values[base + j]!, id);
      const hi = nibble(values[base + QK / 2 + j]!, id);
      out[b * 18 + 2 + j] = lo | (hi << 4);
    }
  }
  return out;
}
