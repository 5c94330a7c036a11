/**
 * adagrad (Duchi et al. 2011; torch.optim.Adagrad):
 *   g ← g + λ·p;  s ← s + g²;  p ← p − η/(1 + (t−1)·lrDecay) · g / (sqrt(s) + ε)
 * Checked against torch.optim.Adagrad.
 */
import { chain, evaluate, type ScalarOrSchedule } from "../core.js";
import { scaleByAdagrad } from "../transforms/adagrad.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { addDecayedWeights } from "../transforms/weight-decay.js";
import * as check from "../validate.js";

export interface AdagradOptions {
  learningRate?: ScalarOrSchedule;
  lrDecay?: number;
  weightDecay?: number;
  initialAccumulatorValue?: number;
  eps?: number;
}

export function adagrad(options: AdagradOptions = {}) {
  check.knownOptions("adagrad", options, [
    "learningRate",
    "lrDecay",
    "weightDecay",
    "initialAccumulatorValue",
    "eps",
  ]);
  const lr = check.learningRate(options.learningRate ?? 1e-2);
  const lrDecay = check.nonNegative("lrDecay", options.lrDecay ?? 0);
  const weightDecay = check.nonNegative("weightDecay", options.weightDecay ?? 0);
  const initialAccumulatorValue = check.nonNegative(
    "initialAccumulatorValue",
    options.initialAccumulatorValue ?? 0,
  );
  const eps = check.nonNegative("eps", options.eps ?? 1e-10);
  return chain(
    ...(weightDecay > 0 ? [addDecayedWeights(weightDecay)] : []),
    scaleByAdagrad({ initialAccumulatorValue, eps }),
    scaleByLearningRate((step) => evaluate(lr, step) / (1 + step * lrDecay)),
  );
}
