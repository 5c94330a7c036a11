/**
 * qGalore — Q-GaLore (Zhang et al. 2024, "Q-GaLore: Quantized GaLore with INT4 Projection and
 * Layer-Adaptive Low-Rank Gradients"; VITA-Group/Q-GaLore): GaLore (galore.ts) whose projection
 * is stored in INT4 and refreshed layer-adaptively (projection/q-galore.ts: the period of a layer
 * doubles once its successive bases stay similar), with the Adam moments optionally stored
 * blockwise in 8 bits (galore-8bit.ts).
 * Update: GaLore's, with the dequantized basis. State per projected m × n leaf (std, m ≥ n):
 * r·n/2 bytes of codes + 8 bytes per group + 4·n (previous first vector) + the moments
 * (4·2·m·r in float32, about 2·m·r with int8 moments).
 * Checked against a re-implementation of the authors' projector and GaLore's AdamW
 * (tools/fixtures/galore_reference.py, test/optim/galore.test.ts) with float32 moments.
 * Deviations: the authors' 8-bit Adam is bitsandbytes' (dynamic quantization map); ours is
 * galore-8bit's linear blockwise codec. The authors also keep the weights in INT8 with
 * stochastic rounding, which is outside an optimizer (see src/linalg quantize for the tool).
 */
import type { GradientTransformation } from "../core.js";
import { resolveProjector } from "../projection/index.js";
import { type QGaloreProjectorOptions, qGaloreProjector } from "../projection/q-galore.js";
import type { CountState } from "../transforms/scale.js";
import * as check from "../validate.js";
import {
  GALORE_DEFAULTS,
  type GaloreOptions,
  type GaloreState,
  galoreOptions,
  type MomentCodec,
  scaleByGalore,
  withGaloreStep,
} from "./galore.js";
import { int8Moments } from "./galore-8bit.js";

export interface QGaloreOptions extends GaloreOptions {
  /** Bits per basis entry (default 4). */
  projBits?: number;
  /** Basis entries per quantization group (default 256). */
  projGroupSize?: number;
  /** Mean cosine similarity above which a layer's refresh period grows (default 0.4). */
  cosThreshold?: number;
  /** Growth factor of the period (default 2). */
  gammaProj?: number;
  /** Similarities averaged (default 5). */
  queueSize?: number;
  /** Moment storage: "int8" (default, blockwise) or "float32". */
  moments?: "int8" | "float32";
  /** Block size of the int8 moments (default 256). */
  momentBlockSize?: number;
}

/** The defaults qGalore() really uses; learningRate excluded. */
export const Q_GALORE_DEFAULTS = {
  ...GALORE_DEFAULTS,
  projBits: 4,
  projGroupSize: 256,
  cosThreshold: 0.4,
  gammaProj: 2,
  queueSize: 5,
  moments: "int8",
  momentBlockSize: 256,
} as const;

const EXTRA = [
  "projBits",
  "projGroupSize",
  "cosThreshold",
  "gammaProj",
  "queueSize",
  "moments",
  "momentBlockSize",
] as const;

export function qGalore(
  options: QGaloreOptions = {},
): GradientTransformation<{ galore: GaloreState; step: CountState }> {
  const o = galoreOptions("qGalore", options, EXTRA);
  const projOptions: QGaloreProjectorOptions = {
    bits: options.projBits ?? 4,
    groupSize: options.projGroupSize ?? 256,
    cosThreshold: options.cosThreshold ?? 0.4,
    gammaProj: options.gammaProj ?? 2,
    queueSize: options.queueSize ?? 5,
  };
  const moments = check.oneOf("moments", options.moments ?? "int8", ["int8", "float32"] as const);
  const codec: MomentCodec | undefined =
    moments === "int8" ? int8Moments(options.momentBlockSize ?? 256) : undefined;
  const projector = qGaloreProjector(resolveProjector(o.projector), projOptions);
  // The wrapper keeps each layer's period itself, so the optimizer asks it at every step.
  return withGaloreStep(
    scaleByGalore({ ...o, projector, gap: 1, moments: codec }),
    o.learningRate,
    o.weightDecay,
  );
}
