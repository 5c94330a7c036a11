/**
 * rmsprop (Hinton 2012; torch.optim.RMSprop):
 *   g ← g + λ·p;  d = g / (sqrt(s) + ε) (centered: sqrt(s − ḡ²));  momentum: b ← μ·b + d, d = b;
 *   p ← p − η·d.
 * Checked against torch.optim.RMSprop. `decay` is PyTorch's `alpha`.
 */
import { chain, optional, type ScalarOrSchedule } from "../core.js";
import { scaleByRms } from "../transforms/rms.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { trace } from "../transforms/trace.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";

/** Options of {@link rmsprop} (torch.optim.RMSprop's, camelCase; `decay` is PyTorch's `alpha`). */
export interface RmspropOptions {
  learningRate?: ScalarOrSchedule;
  decay?: number;
  eps?: number;
  momentum?: number;
  centered?: boolean;
  weightDecay?: number;
}

/** torch.optim.RMSprop's defaults (its alpha is `decay`; the learning rate, 1e-2, apart). */
export const RMSPROP_DEFAULTS = {
  decay: 0.99,
  eps: 1e-8,
  momentum: 0,
  centered: false,
  weightDecay: 0,
} as const;

/** RMSprop (Hinton 2012) as torch.optim.RMSprop: centered variant, momentum, L2 weight decay. */
export function rmsprop(options: RmspropOptions = {}) {
  check.knownOptions("rmsprop", options, [...Object.keys(RMSPROP_DEFAULTS), "learningRate"]);
  const o = { ...RMSPROP_DEFAULTS, ...options };
  const momentum = check.nonNegative("momentum", o.momentum);
  return chain(
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    scaleByRms({
      decay: check.unitInterval("decay", o.decay),
      ...check.adamOptions({ eps: o.eps }),
      centered: check.boolean("centered", o.centered),
    }),
    ...optional(momentum > 0, () => trace({ decay: momentum })),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-2)),
  );
}
