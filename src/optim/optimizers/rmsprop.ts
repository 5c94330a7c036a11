/**
 * rmsprop (Hinton 2012; torch.optim.RMSprop):
 *   g ← g + λ·p;  d = g / (sqrt(s) + ε) (centered: sqrt(s − ḡ²));  momentum: b ← μ·b + d, d = b;
 *   p ← p − η·d.
 * Checked against torch.optim.RMSprop. `decay` is PyTorch's `alpha`.
 */
import { chain, type ScalarOrSchedule } from "../core.js";
import { scaleByRms } from "../transforms/rms.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { trace } from "../transforms/trace.js";
import { addDecayedWeights } from "../transforms/weight-decay.js";
import * as check from "../validate.js";

export interface RmspropOptions {
  learningRate?: ScalarOrSchedule;
  decay?: number;
  eps?: number;
  momentum?: number;
  centered?: boolean;
  weightDecay?: number;
}

export function rmsprop(options: RmspropOptions = {}) {
  check.knownOptions("rmsprop", options, [
    "learningRate",
    "decay",
    "eps",
    "momentum",
    "centered",
    "weightDecay",
  ]);
  const lr = check.learningRate(options.learningRate ?? 1e-2);
  const decay = check.unitInterval("decay", options.decay ?? 0.99);
  const eps = check.nonNegative("eps", options.eps ?? 1e-8);
  const momentum = check.nonNegative("momentum", options.momentum ?? 0);
  const centered = check.boolean("centered", options.centered ?? false);
  const weightDecay = check.nonNegative("weightDecay", options.weightDecay ?? 0);
  return chain(
    ...(weightDecay > 0 ? [addDecayedWeights(weightDecay)] : []),
    scaleByRms({ decay, eps, centered }),
    ...(momentum > 0 ? [trace({ decay: momentum })] : []),
    scaleByLearningRate(lr),
  );
}
