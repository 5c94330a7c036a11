/**
 * galore8bit — 8-bit GaLore (Zhao et al. 2024, GaLore's AdamW8bit, built on bitsandbytes'
 * blockwise 8-bit Adam, Dettmers et al. 2022): GaLore (galore.ts) whose Adam moments, the inner
 * low-rank ones and the full-size fallback's, are stored blockwise-quantised between steps
 * (transforms/moment-codec.ts: withMomentCodec around each Adam, int8Moments):
 *   m̃ = deq(m_q),  ṽ = deq(s_q)²
 *   m ← β1 m̃ + (1−β1) R,   v ← β2 ṽ + (1−β2) R²,   step from (m, v) as GaLore,
 *   m_q = quant(m, signed),   s_q = quant(√v, unsigned)
 * Moments take 1 byte per entry plus 4 bytes per block: for an m × n leaf at rank r (std, m ≥ n),
 * about 2·m·r + 4·r·n bytes instead of 8·m·r + 4·r·n.
 * Checked against tools/fixtures/galore_reference.py (Int8Codec: this codec re-implemented in
 * torch inside the authors' GaLore AdamW; test/optim/galore.test.ts).
 * quantMap "dynamic" stores the moments with bitsandbytes' own dynamic code map instead
 * (dynamicMoments: m with the signed map, v itself with the unsigned one).
 * Deviations: the default code is linear (quantMap "linear"; bitsandbytes: its dynamic map);
 * 32-bit states for tensors under 4096 entries as bitsandbytes (here `minQuantizedSize`); GaLore's AdamW arithmetic (ε
 * next to √v, decay after the step) rather than bitsandbytes'.
 */
import type { GradientTransformation, State } from "../core.js";
import { dynamicMoments, int8Moments, withMomentCodec } from "../transforms/moment-codec.js";
import * as check from "../validate.js";
import { GALORE_DEFAULTS, type GaloreOptions, galoreAdamW } from "./galore.js";

export interface Galore8bitOptions extends GaloreOptions {
  /** Entries per quantization block (default 256). */
  blockSize?: number;
  /** Moments with fewer entries stay float32 (default 4096, as bitsandbytes). */
  minQuantizedSize?: number;
  /** "linear" absmax codes (default) or bitsandbytes' "dynamic" map. */
  quantMap?: "linear" | "dynamic";
}

/** The defaults galore8bit() really uses; learningRate excluded. */
export const GALORE_8BIT_DEFAULTS = {
  ...GALORE_DEFAULTS,
  blockSize: 256,
  minQuantizedSize: 4096,
  quantMap: "linear" as "linear" | "dynamic",
} as const;

/** 8-bit GaLore: GaLore whose Adam moments are stored blockwise-quantised (int8) between steps. */
export function galore8bit(options: Galore8bitOptions = {}): GradientTransformation<State[]> {
  check.knownOptions("galore8bit", options, [
    ...Object.keys(GALORE_8BIT_DEFAULTS),
    "learningRate",
    "mask",
  ]);
  const o = { ...GALORE_8BIT_DEFAULTS, ...options };
  const map = check.oneOf("quantMap", o.quantMap, ["linear", "dynamic"] as const);
  const codec = (map === "dynamic" ? dynamicMoments : int8Moments)(o.blockSize, o.minQuantizedSize);
  return galoreAdamW(o, { wrapAdam: (adam) => withMomentCodec(adam, codec) });
}
