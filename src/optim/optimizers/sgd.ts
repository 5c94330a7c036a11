/**
 * sgd — stochastic gradient descent with momentum, Nesterov and L2 weight decay (torch.optim.SGD):
 *   g ← g + λ·p;  b ← g (first step), b ← μ·b + (1−dampening)·g;  d = g + μ·b (Nesterov) or b;
 *   p ← p − η·d.
 * Checked against torch.optim.SGD (test/optim/classic.test.ts). No deviations.
 */
import { chain, type ScalarOrSchedule } from "../core.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { trace } from "../transforms/trace.js";
import { addDecayedWeights } from "../transforms/weight-decay.js";
import * as check from "../validate.js";

export interface SgdOptions {
  learningRate: ScalarOrSchedule;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

export function sgd(options: SgdOptions) {
  check.knownOptions("sgd", options, [
    "learningRate",
    "momentum",
    "dampening",
    "nesterov",
    "weightDecay",
  ]);
  const lr = check.learningRate(options.learningRate);
  const momentum = check.nonNegative("momentum", options.momentum ?? 0);
  const dampening = check.nonNegative("dampening", options.dampening ?? 0);
  const nesterov = check.boolean("nesterov", options.nesterov ?? false);
  const weightDecay = check.nonNegative("weightDecay", options.weightDecay ?? 0);
  if (nesterov && (momentum <= 0 || dampening !== 0)) {
    throw new RangeError("nesterov requires momentum > 0 and dampening = 0");
  }
  return chain(
    ...(weightDecay > 0 ? [addDecayedWeights(weightDecay)] : []),
    ...(momentum > 0 ? [trace({ decay: momentum, nesterov, dampening })] : []),
    scaleByLearningRate(lr),
  );
}
