/**
 * qGalore — Q-GaLore (Zhang et al. 2024, "Q-GaLore: Quantized GaLore with INT4 Projection and
 * Layer-Adaptive Low-Rank Gradients"; VITA-Group/Q-GaLore): GaLore (galore.ts) whose projector is
 * wrapped by qGaloreProjector (projection/q-galore.ts: the basis stored in INT4, the refresh
 * period of a layer doubling once its successive bases stay similar), with the Adam moments
 * optionally stored blockwise in 8 bits (withMomentCodec around each Adam, as galore-8bit.ts).
 * The wrapper keeps each layer's period itself, so scaleByGalore asks it at every step
 * (refreshEvery: 1).
 * Update: GaLore's, with the dequantized basis. State per projected m × n leaf (std, m ≥ n):
 * r·n/2 bytes of codes + 8 bytes per group + 4·n (previous first vector) + the moments
 * (4·2·m·r in float32, about 2·m·r with int8 moments).
 * Checked against a re-implementation of the authors' projector and GaLore's AdamW
 * (tools/fixtures/galore_reference.py, test/optim/galore.test.ts) with float32 moments.
 * Deviations: the authors' 8-bit Adam is bitsandbytes' (dynamic quantization map); ours is
 * the linear blockwise codec by default (moments "dynamic": bitsandbytes' map, with GaLore's
 * AdamW arithmetic rather than bitsandbytes' kernel). With weightBits 8 the matrices (the leaves
 * GaLore projects) are stored in INT8 as the authors do — 8-bit codes (packed four per uint32
 * word, jax-js having no 8-bit dtype) with a float32 scale and zero point per group, stochastic
 * rounding after every step — and that INT8 copy, kept in the optimizer state, is the master:
 * each step starts from it and the trainer's float32 parameters (which the model reads, so they
 * stay) are moved onto its values (transforms/int8-master.ts). stateBytes counts it: 1 byte per
 * matrix entry + 8 bytes per group, on top of the float32 parameters the trainer holds.
 */

import { OptionError } from "../../engine/errors.js";
import type { GradientTransformation, State } from "../core.js";
import { chain, identity } from "../core.js";
import { Q_GALORE_PROJECTOR_DEFAULTS, qGaloreProjector } from "../projection/q-galore.js";
import { resolveProjector } from "../projection/resolve.js";
import { projectable } from "../projection/subspace.js";
import { int8MasterWeights } from "../transforms/int8-master.js";
import { matrixOrFallback } from "../transforms/matrix-partition.js";
import { dynamicMoments, int8Moments, withMomentCodec } from "../transforms/moment-codec.js";
import * as check from "../validate.js";
import { GALORE_DEFAULTS, type GaloreOptions, galoreAdamW } from "./galore.js";

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
  moments?: "int8" | "dynamic" | "float32";
  /** Block size of the int8 moments (default 256). */
  momentBlockSize?: number;
  /** 8: keep the matrices in INT8, the master copy in the state (the authors'); 0 (default): float. */
  weightBits?: number;
  /** Entries per weight quantisation group (default 256; a multiple of 4). */
  weightGroupSize?: number;
  /** Stochastic rounding of the INT8 weights (default true). */
  stochasticRound?: boolean;
}

/** The defaults qGalore() really uses; learningRate excluded. */
export const Q_GALORE_DEFAULTS = {
  ...GALORE_DEFAULTS,
  projBits: Q_GALORE_PROJECTOR_DEFAULTS.bits,
  projGroupSize: Q_GALORE_PROJECTOR_DEFAULTS.groupSize,
  cosThreshold: Q_GALORE_PROJECTOR_DEFAULTS.cosThreshold,
  gammaProj: Q_GALORE_PROJECTOR_DEFAULTS.gammaProj,
  queueSize: Q_GALORE_PROJECTOR_DEFAULTS.queueSize,
  moments: "int8" as "int8" | "dynamic" | "float32",
  momentBlockSize: 256,
  weightBits: 0,
  weightGroupSize: 256,
  stochasticRound: true,
} as const;

/**
 * Q-GaLore (Zhang et al. 2024): GaLore with INT4 projection bases whose refresh period grows once
 * successive bases stay similar, and int8 Adam moments.
 */
export function qGalore(options: QGaloreOptions = {}): GradientTransformation<State[]> {
  check.knownOptions("qGalore", options, [
    ...Object.keys(Q_GALORE_DEFAULTS),
    "learningRate",
    "mask",
  ]);
  const o = { ...Q_GALORE_DEFAULTS, ...options };
  const projector = qGaloreProjector(resolveProjector(o.projector), {
    bits: o.projBits,
    groupSize: o.projGroupSize,
    cosThreshold: o.cosThreshold,
    gammaProj: o.gammaProj,
    queueSize: o.queueSize,
  });
  const moments = check.oneOf("moments", o.moments, ["int8", "dynamic", "float32"] as const);
  const codec =
    moments === "int8"
      ? int8Moments(o.momentBlockSize)
      : moments === "dynamic"
        ? dynamicMoments(o.momentBlockSize)
        : undefined;
  const weightBits = check.integer("weightBits", o.weightBits, 0);
  if (weightBits !== 0 && weightBits !== 8) {
    throw new OptionError(`weightBits must be one of 0, 8; got ${weightBits}`);
  }
  const weightGroupSize = check.integer("weightGroupSize", o.weightGroupSize, 4);
  if (weightGroupSize % 4 !== 0) {
    throw new OptionError(
      `weightGroupSize must be a multiple of 4 (four 8-bit codes per word), got ${weightGroupSize}`,
    );
  }
  const stochastic = check.boolean("stochasticRound", o.stochasticRound);
  const galore = galoreAdamW(o, {
    projector,
    refreshEvery: 1,
    wrapAdam: codec && ((adam) => withMomentCodec(adam, codec)),
  });
  if (weightBits === 0) return galore;
  const weights = int8MasterWeights({ groupSize: weightGroupSize, stochastic, seed: o.seed });
  return chain(galore, matrixOrFallback(weights, identity(), projectable(o.mask)));
}
