/**
 * adagrad (Duchi et al. 2011; torch.optim.Adagrad):
 *   g ← g + λ·p;  s ← s + g²;  p ← p − η/(1 + (t−1)·lrDecay) · g / (sqrt(s) + ε)
 * Checked against torch.optim.Adagrad.
 */
import { chain, evaluate, type ScalarOrSchedule } from "../core.js";
import { scaleByAdagrad } from "../transforms/adagrad.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";

/** Options of {@link adagrad} (torch.optim.Adagrad's, camelCase). */
export interface AdagradOptions {
  learningRate?: ScalarOrSchedule;
  lrDecay?: number;
  weightDecay?: number;
  initialAccumulatorValue?: number;
  eps?: number;
}

/** torch.optim.Adagrad's defaults (the learning rate, 1e-2, apart). */
export const ADAGRAD_DEFAULTS = {
  lrDecay: 0,
  weightDecay: 0,
  initialAccumulatorValue: 0,
  eps: 1e-10,
} as const;

/**
 * Adagrad (Duchi et al. 2011), as torch.optim.Adagrad: learning-rate decay, initial accumulator, L2
 * weight decay.
 */
export function adagrad(options: AdagradOptions = {}) {
  check.knownOptions("adagrad", options, [...Object.keys(ADAGRAD_DEFAULTS), "learningRate"]);
  const o = { ...ADAGRAD_DEFAULTS, ...options };
  const lr = check.learningRate(o.learningRate ?? 1e-2);
  const lrDecay = check.nonNegative("lrDecay", o.lrDecay);
  return chain(
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    scaleByAdagrad({
      initialAccumulatorValue: check.nonNegative(
        "initialAccumulatorValue",
        o.initialAccumulatorValue,
      ),
      ...check.adamOptions({ eps: o.eps }),
    }),
    scaleByLearningRate((step) => evaluate(lr, step) / (1 + step * lrDecay)),
  );
}
