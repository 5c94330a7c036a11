/**
 * The dynamic quantisation map of 8-bit optimizers (Dettmers 2016, "8-Bit Approximations for
 * Parallelism in Deep Learning"; Dettmers et al. 2022, "8-bit Optimizers via Block-wise
 * Quantization"), as bitsandbytes builds it (functional.py `create_dynamic_map`; read, not
 * copied): with n = 7 non-sign bits and E = maxExponentBits, for i = 0 … E−1 the means of
 * consecutive points of linspace(0.1, 1, 2^(i+7−E)+1) (signed; 2^(i+8−E)+1 unsigned) scaled by
 * 10^(i−E+1), with their negatives when signed; 2^(7−E)−1 extra means at the last scale; then 0
 * and 1; sorted. 256 codes spanning about 1e−7 … 1, dense near 0 — a floating-point-like code.
 *
 * quantizeDynamic — blockwise absmax with the map (bitsandbytes' quantize_blockwise):
 *   a = max|x| over a block,  y = x / a ∈ [−1, 1],  q = index of the code nearest y
 *   (ties to the lower code; found by an 8-step binary search over the 255 midpoints, one
 *   gather per step, no comparison against all 256 codes);  x̃ = code[q]·a.
 * Codes are packed four to a uint32 word (jax-js has no uint8): 1 byte per entry plus 4 bytes
 * per block for a. Checked against a NumPy re-implementation of bitsandbytes' map and of the
 * nearest-code rule (tools/fixtures/round2b_dynamic_map.py, test/optim/round2b-dynamic-map.test.ts).
 * Deviations: only 8-bit codes (total_bits = 8); rounding is to the nearest code only (no
 * stochastic rounding).
 */
import { numpy as np } from "@jax-js/jax";

/** The 256 codes of bitsandbytes' dynamic map, ascending (float64 values of float32 codes). */
export function dynamicMap(signed = true, maxExponentBits = 7): Float64Array {
  if (!Number.isInteger(maxExponentBits) || maxExponentBits < 1 || maxExponentBits > 7) {
    throw new RangeError(`maxExponentBits must be an integer in 1…7, got ${maxExponentBits}`);
  }
  if (!signed && maxExponentBits !== 7) {
    // bitsandbytes' own count check fails for these (fewer than 256 codes).
    throw new RangeError(`an unsigned dynamic map needs maxExponentBits 7, got ${maxExponentBits}`);
  }
  const f32 = Math.fround;
  const data: number[] = [];
  const means = (items: number, scale: number) => {
    // torch.linspace(0.1, 1, items) in float32, then the float32 means, times the scale.
    const step = f32((1 - 0.1) / (items - 1));
    const points = Array.from({ length: items }, (_, k) =>
      k < items / 2 ? f32(f32(0.1) + k * step) : f32(1 - (items - 1 - k) * step),
    );
    for (let k = 0; k + 1 < items; k++) {
      const mean = f32(f32(points[k] + points[k + 1]) / 2);
      data.push(f32(scale * mean));
      if (signed) data.push(f32(-scale * mean));
    }
  };
  const extra = 2 ** (7 - maxExponentBits) - 1;
  for (let i = 0; i < maxExponentBits; i++) {
    const items = signed ? 2 ** (i + 7 - maxExponentBits) + 1 : 2 ** (i + 8 - maxExponentBits) + 1;
    means(items, 10 ** (i - maxExponentBits + 1));
  }
  if (extra > 0) means(extra + 1, 10 ** (maxExponentBits - 1 - maxExponentBits + 1));
  data.push(0, 1);
  if (data.length !== 256) throw new Error(`dynamic map: ${data.length} codes, expected 256`);
  return Float64Array.from(data.sort((a, b) => a - b));
}

/** A blockwise dynamic-map quantised tensor (a plain tree: stateBytes counts codes and absmax). */
export interface DynamicQuantized {
  /** uint32 words, four 8-bit codes each. */
  codes: np.Array;
  /** float32, one absmax per block. */
  absmax: np.Array;
  shape: number[];
  blockSize: number;
  signed: boolean;
}

const maps = new Map<boolean, { codes: Float32Array; midpoints: Float32Array }>();

/** The map's codes and the 255 midpoints between neighbours (+∞ padded to 256), float32. */
function mapOf(signed: boolean) {
  let m = maps.get(signed);
  if (m === undefined) {
    const codes = dynamicMap(signed);
    const midpoints = new Float32Array(256).fill(Number.POSITIVE_INFINITY);
    for (let j = 0; j < 255; j++) midpoints[j] = (codes[j] + codes[j + 1]) / 2;
    m = { codes: Float32Array.from(codes), midpoints };
    maps.set(signed, m);
  }
  return m;
}

const SHIFTS = [0, 8, 16, 24];

/** Quantise blockwise with the dynamic map (see the header). Consumes x. */
export function quantizeDynamic(x: np.Array, blockSize = 256, signed = true): DynamicQuantized {
  if (!Number.isInteger(blockSize) || blockSize < 4 || blockSize % 4 !== 0) {
    throw new RangeError(`blockSize must be a positive multiple of 4, got ${blockSize}`);
  }
  const shape = x.shape;
  const size = x.size;
  const blocks = Math.max(1, Math.ceil(size / blockSize));
  let flat = x.reshape([-1]).astype(np.float32);
  if (blocks * blockSize > size) flat = np.pad(flat, [[0, blocks * blockSize - size]]);
  const grid = flat.reshape([blocks, blockSize]);
  const absmax = np.max(np.abs(grid.ref), 1, { keepdims: true });
  const y = grid.div(np.where(np.greater(absmax.ref, 0), absmax.ref, 1)).reshape([-1]);
  // Binary search: q = #{midpoints < y}, the index of the nearest code.
  const midpoints = np.array(mapOf(signed).midpoints);
  let q = np.zeros([blocks * blockSize], { dtype: np.int32 });
  for (let b = 128; b >= 1; b >>= 1) {
    const probe = np.take(midpoints.ref, q.ref.add(b - 1));
    q = q.add(np.less(probe, y.ref).astype(np.int32).mul(b));
  }
  midpoints.dispose();
  y.dispose();
  const words = q.astype(np.uint32).reshape([-1, 4]);
  const packed = np
    .leftShift(words, np.array(new Uint32Array(SHIFTS), { dtype: np.uint32 }).reshape([1, 4]))
    .sum(1);
  return { codes: packed, absmax: absmax.reshape([blocks]), shape, blockSize, signed };
}

/** The float32 tensor of {@link quantizeDynamic}'s result. Consumes q's arrays. */
export function dequantizeDynamic(q: DynamicQuantized): np.Array {
  const { codes, absmax, shape, blockSize, signed } = q;
  const size = shape.reduce((a, b) => a * b, 1);
  const blocks = absmax.shape[0];
  const index = np
    .bitwiseAnd(
      np.rightShift(
        codes.reshape([-1, 1]),
        np.array(new Uint32Array(SHIFTS), { dtype: np.uint32 }).reshape([1, 4]),
      ),
      255,
    )
    .astype(np.int32)
    .reshape([-1]);
  const values = np
    .take(np.array(mapOf(signed).codes), index)
    .reshape([blocks, blockSize])
    .mul(absmax.reshape([blocks, 1]))
    .reshape([-1]);
  return (size < blocks * blockSize ? values.slice([0, size]) : values).reshape(shape);
}
