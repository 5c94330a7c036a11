/**
 * marsSplit — how the MARS family (AGI-Arena/MARS, MARS/optimizers/mars.py) routes leaves: with
 * `optimize1d` every leaf takes the method's own rule (given by `vectors1d`), else leaves with
 * fewer than two dimensions take plain AdamW with their own learning rate, betas and decay
 * (learningRate1d, betas1d, weightDecay1d), as the authors' optimize_1d = False.
 * Deviation (as in mars.ts): a leaf counts as a matrix when ndim ≥ 2 (the authors: exactly 2).
 */
import { OptionTypeError } from "../../engine/errors.js";
import { chain, type GradientTransformation, partition, type ScalarOrSchedule } from "../core.js";
import { scaleByAdam } from "../transforms/adam.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";

/** The 1-D options every MARS variant shares. */
export interface MarsVectorOptions {
  /** Use the method's own rule on vectors too (else AdamW with the *1d options). */
  optimize1d?: boolean;
  learningRate1d?: ScalarOrSchedule;
  betas1d?: [number, number];
  weightDecay1d?: number;
}

/** The authors' 1-D defaults. */
export const MARS_VECTOR_DEFAULTS = {
  optimize1d: false,
  learningRate1d: 3e-3,
  betas1d: [0.9, 0.95] as [number, number],
  weightDecay1d: 0.1,
} as const;

/**
 * Matrices (ndim ≥ 2) to `matrices`; the other leaves to `vectors1d` with optimize1d (absent:
 * `matrices` takes every leaf, unpartitioned, as mars.ts's saved states expect), else to AdamW
 * with the *1d options (eps: the method's).
 */
export function marsSplit(
  matrices: GradientTransformation<any>,
  vectors1d: (() => GradientTransformation<any>) | undefined,
  o: MarsVectorOptions & { eps: number },
): GradientTransformation<any> {
  const d = { ...MARS_VECTOR_DEFAULTS, ...o };
  if (check.boolean("optimize1d", d.optimize1d)) {
    if (vectors1d === undefined) return matrices;
    return partition({ mars: matrices, vectors: vectors1d() }, (leaf) =>
      leaf.ndim >= 2 ? "mars" : "vectors",
    );
  }
  const pair = d.betas1d;
  if (!Array.isArray(pair) || pair.length !== 2) {
    throw new OptionTypeError(`betas1d must be a pair [b1, b2], got ${JSON.stringify(pair)}`);
  }
  const vectors = chain(
    scaleByAdam({
      b1: check.unitInterval("betas1d[0]", pair[0]),
      b2: check.unitInterval("betas1d[1]", pair[1]),
      eps: d.eps,
    }),
    ...optionalDecay(check.nonNegative("weightDecay1d", d.weightDecay1d)),
    scaleByLearningRate(check.learningRate(d.learningRate1d, "learningRate1d")),
  );
  return partition({ mars: matrices, adamw: vectors }, (leaf) =>
    leaf.ndim >= 2 ? "mars" : "adamw",
  );
}
