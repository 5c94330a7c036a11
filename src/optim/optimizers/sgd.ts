/**
 * sgd — stochastic gradient descent with momentum, Nesterov and L2 weight decay (torch.optim.SGD):
 *   g ← g + λ·p;  b ← g (first step), b ← μ·b + (1−dampening)·g;  d = g + μ·b (Nesterov) or b;
 *   p ← p − η·d.
 * Checked against torch.optim.SGD (test/optim/classic.test.ts). No deviations.
 */
import { chain, optional, type ScalarOrSchedule } from "../core.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { trace } from "../transforms/trace.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";

/** Options of {@link sgd} (torch.optim.SGD's, camelCase). */
export interface SgdOptions {
  learningRate: ScalarOrSchedule;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

/** torch.optim.SGD's defaults: plain SGD (the learning rate is required). */
export const SGD_DEFAULTS = { momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 } as const;

/**
 * Stochastic gradient descent as torch.optim.SGD: momentum, dampening, Nesterov, L2 weight decay.
 */
export function sgd(options: SgdOptions) {
  check.knownOptions("sgd", options, [...Object.keys(SGD_DEFAULTS), "learningRate"]);
  const o = { ...SGD_DEFAULTS, ...options };
  const lr = check.learningRate(o.learningRate);
  const momentum = check.nonNegative("momentum", o.momentum);
  const dampening = check.nonNegative("dampening", o.dampening);
  const nesterov = check.boolean("nesterov", o.nesterov);
  if (nesterov && (momentum <= 0 || dampening !== 0)) {
    throw new RangeError("nesterov requires momentum > 0 and dampening = 0");
  }
  return chain(
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    ...optional(momentum > 0, () => trace({ decay: momentum, nesterov, dampening })),
    scaleByLearningRate(lr),
  );
}
