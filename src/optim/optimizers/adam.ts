/**
 * adam, adamw, amsgrad (Kingma & Ba 2015; Loshchilov & Hutter 2019; Reddi et al. 2018):
 *   adam:  g ← g + λ·p (L2, as torch.optim.Adam);  d = Adam direction (transforms/adam.ts);  p ← p − η·d
 *   adamw: d = Adam direction + λ·p (decoupled);  p ← p − η·d   ≡ torch's p ← p(1 − ηλ) − η·Adam
 *   amsgrad: the Adam direction with v replaced by its running maximum.
 * Checked against torch.optim.Adam / AdamW (test/optim/classic.test.ts). No deviations.
 */
import { chain, type LeafSpec, type ScalarOrSchedule } from "../core.js";
import { scaleByAdam } from "../transforms/adam.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { optionalDecay } from "../transforms/weight-decay.js";
import * as check from "../validate.js";

/**
 * Options of {@link adam}: learning rate, β1, β2, ε, L2 weight decay and AMSGrad
 * (torch.optim.Adam's, camelCase).
 */
export interface AdamOptions {
  learningRate?: ScalarOrSchedule;
  b1?: number;
  b2?: number;
  eps?: number;
  weightDecay?: number;
  amsgrad?: boolean;
}

/** Options of {@link adamw}: Adam's, with decoupled weight decay. */
export interface AdamWOptions extends AdamOptions {
  /** Which leaves get weight decay (default: all, as PyTorch). */
  weightDecayMask?: LeafSpec<boolean>;
}

/**
 * torch.optim.Adam's b1, b2, eps and no weight decay: also the defaults of the methods built on
 * Adam's moments whose references keep them (RAdam, Adamax, diffGrad, AMSGrad).
 */
export const ADAM_BASE_DEFAULTS = { b1: 0.9, b2: 0.999, eps: 1e-8, weightDecay: 0 } as const;

/** torch.optim.Adam's defaults (the learning rate apart). */
export const ADAM_DEFAULTS = { ...ADAM_BASE_DEFAULTS, amsgrad: false } as const;

/** torch.optim.AdamW's: Adam's, with decoupled weight decay 0.01. */
export const ADAMW_DEFAULTS = { ...ADAM_DEFAULTS, weightDecay: 0.01 } as const;

/** Adam's, without the amsgrad switch (always on). */
export const AMSGRAD_DEFAULTS = ADAM_BASE_DEFAULTS;

/** Adam's b1, b2, eps checked (validate.ts); re-exported for the methods built on Adam. */
export const adamOptions = check.adamOptions;

/** Adam (Kingma and Ba 2015) as torch.optim.Adam: weight decay is L2 (added to the gradient). */
export function adam(options: AdamOptions = {}) {
  check.knownOptions("adam", options, [...Object.keys(ADAM_DEFAULTS), "learningRate"]);
  const o = { ...ADAM_DEFAULTS, ...options };
  return chain(
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay)),
    scaleByAdam({ ...adamOptions(o), amsgrad: check.boolean("amsgrad", o.amsgrad) }),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-3)),
  );
}

/**
 * AdamW (Loshchilov and Hutter 2019) as torch.optim.AdamW: decoupled weight decay p ← p(1 − ηλ).
 */
export function adamw(options: AdamWOptions = {}) {
  check.knownOptions("adamw", options, [
    ...Object.keys(ADAMW_DEFAULTS),
    "learningRate",
    "weightDecayMask",
  ]);
  const o = { ...ADAMW_DEFAULTS, ...options };
  return chain(
    scaleByAdam({ ...adamOptions(o), amsgrad: check.boolean("amsgrad", o.amsgrad) }),
    ...optionalDecay(check.nonNegative("weightDecay", o.weightDecay), o.weightDecayMask),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-3)),
  );
}

/** AMSGrad (Reddi et al. 2018): Adam with the running maximum of the second moment. */
export function amsgrad(options: Omit<AdamOptions, "amsgrad"> = {}) {
  check.knownOptions("amsgrad", options, [...Object.keys(AMSGRAD_DEFAULTS), "learningRate"]);
  return adam({ ...AMSGRAD_DEFAULTS, ...options, amsgrad: true });
}
