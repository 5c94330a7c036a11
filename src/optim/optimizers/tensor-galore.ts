/**
 * tensorGalore — GaLore (galore.ts) with Tensor-GaLore's Tucker projection for leaves with three
 * or more dimensions (projection/tucker.ts; George et al. 2024): ≥3-D leaves take Adam on the
 * Tucker core of their gradient, matrices GaLore's low-rank Adam, other leaves Adam, all with
 * GaLore's options (rank, updateProjGap, scale, betas, ε, weight decay after the step).
 * Reference and deviations: projection/tucker.ts.
 */
import { chain, type GradientTransformation, partition } from "../core.js";
import { scaleByTuckerGalore } from "../projection/tucker.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecayAfterStep } from "../transforms/weight-decay.js";
import * as check from "../validate.js";
import { adamOptions } from "./adam.js";
import { GALORE_DEFAULTS, type GaloreOptions, galore } from "./galore.js";

/** The defaults tensorGalore() uses: GaLore's. */
export const TENSOR_GALORE_DEFAULTS = GALORE_DEFAULTS;

/** GaLore with Tucker-projected Adam for ≥3-D leaves. */
export function tensorGalore(options: GaloreOptions = {}): GradientTransformation<any> {
  check.knownOptions("tensorGalore", options, [
    ...Object.keys(GALORE_DEFAULTS),
    "learningRate",
    "mask",
  ]);
  const o = { ...GALORE_DEFAULTS, ...options };
  const learningRate = check.learningRate(o.learningRate ?? 1e-3);
  const tucker = chain(
    scaleByTuckerGalore({
      ...adamOptions({ b1: o.b1, b2: o.b2, eps: o.eps }),
      rank: check.integer("rank", o.rank, 1),
      updateProjGap: check.integer("updateProjGap", o.updateProjGap, 1),
      scale: check.nonNegative("scale", o.scale),
    }),
    scaleByLearningRate(learningRate),
    ...optionalDecayAfterStep(learningRate, check.nonNegative("weightDecay", o.weightDecay)),
  );
  return partition({ tucker, galore: galore(options) }, (leaf) =>
    leaf.ndim >= 3 ? "tucker" : "galore",
  );
}
