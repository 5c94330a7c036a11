/**
 * galore8bit — 8-bit GaLore (Zhao et al. 2024, GaLore's AdamW8bit, built on bitsandbytes'
 * blockwise 8-bit Adam, Dettmers et al. 2022): GaLore (galore.ts) with both Adam moments stored
 * blockwise-quantised between steps (src/linalg/quantize.ts, linear absmax codes, blocks of
 * `blockSize` entries, one float32 scale per block):
 *   m̃ = deq(m_q),  ṽ = deq(s_q)²
 *   m ← β1 m̃ + (1−β1) R,   v ← β2 ṽ + (1−β2) R²,   step from (m, v) as GaLore,
 *   m_q = quant(m, signed),   s_q = quant(√v, unsigned)
 * The second moment is stored as √v: with a linear code, v's dynamic range (the square of the
 * gradient's) would round small entries to zero and blow up m/(√v + ε); √v halves it in log
 * scale. Moments take 1 byte per entry plus 4 bytes per block: for an m × n leaf at rank r
 * (std, m ≥ n), about 2·m·r + 4·r·n bytes instead of 8·m·r + 4·r·n.
 * Checked against tools/fixtures/galore_reference.py (Int8Codec: this codec re-implemented in
 * torch inside the authors' GaLore AdamW; test/optim/galore.test.ts).
 * Deviations: bitsandbytes uses a non-linear dynamic code map and keeps 32-bit states for tensors
 * under 4096 entries (here `minQuantizedSize`, default 4096 too); GaLore's AdamW arithmetic (ε
 * next to √v, decay after the step) rather than bitsandbytes'.
 */
import { numpy as np } from "@jax-js/jax";
import { dequantize, type Quantized, quantize } from "../../linalg/quantize.js";
import type { GradientTransformation } from "../core.js";
import type { CountState } from "../transforms/scale.js";
import * as check from "../validate.js";
import {
  float32Moments,
  GALORE_DEFAULTS,
  type GaloreOptions,
  type GaloreState,
  galoreOptions,
  type MomentCodec,
  scaleByGalore,
  withGaloreStep,
} from "./galore.js";

export interface Galore8bitOptions extends GaloreOptions {
  /** Entries per quantization block (default 256). */
  blockSize?: number;
  /** Moments with fewer entries stay float32 (default 4096, as bitsandbytes). */
  minQuantizedSize?: number;
}

/** Blockwise int8 storage of Adam's moments (m signed, √v unsigned). */
export function int8Moments(blockSize = 256, minQuantizedSize = 0): MomentCodec {
  check.integer("blockSize", blockSize, 4);
  const small = (size: number) => size < minQuantizedSize;
  const signed = (kind: string) => kind === "first";
  return {
    zeros(shape, kind) {
      const size = shape.reduce((a, b) => a * b, 1);
      if (small(size)) return float32Moments.zeros(shape, kind);
      return quantize(np.zeros(shape), { bits: 8, blockSize, signed: signed(kind) }) as any;
    },
    load(stored, kind) {
      if (stored instanceof np.Array) return stored;
      const x = dequantize(stored as unknown as Quantized);
      return kind === "second" ? x.ref.mul(x) : x;
    },
    save(x, kind) {
      if (small(x.size)) return x;
      const y = kind === "second" ? np.sqrt(x) : x;
      return quantize(y, { bits: 8, blockSize, signed: signed(kind) }) as any;
    },
  };
}

/** The defaults galore8bit() really uses; learningRate excluded. */
export const GALORE_8BIT_DEFAULTS = {
  ...GALORE_DEFAULTS,
  blockSize: 256,
  minQuantizedSize: 4096,
} as const;

export function galore8bit(
  options: Galore8bitOptions = {},
): GradientTransformation<{ galore: GaloreState; step: CountState }> {
  const o = galoreOptions("galore8bit", options, ["blockSize", "minQuantizedSize"]);
  const blockSize = check.integer("blockSize", options.blockSize ?? 256, 4);
  const minSize = check.integer("minQuantizedSize", options.minQuantizedSize ?? 4096, 0);
  return withGaloreStep(
    scaleByGalore({ ...o, moments: int8Moments(blockSize, minSize) }),
    o.learningRate,
    o.weightDecay,
  );
}
