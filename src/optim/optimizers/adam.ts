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
import { addDecayedWeights } from "../transforms/weight-decay.js";
import * as check from "../validate.js";

export interface AdamOptions {
  learningRate?: ScalarOrSchedule;
  b1?: number;
  b2?: number;
  eps?: number;
  weightDecay?: number;
  amsgrad?: boolean;
}

export interface AdamWOptions extends AdamOptions {
  /** Which leaves get weight decay (default: all, as PyTorch). */
  weightDecayMask?: LeafSpec<boolean>;
}

const NAMES = ["learningRate", "b1", "b2", "eps", "weightDecay", "amsgrad"];

/** Validated Adam options with PyTorch defaults; shared by methods built on the Adam direction. */
export function adamOptions(name: string, o: AdamOptions, extra: string[] = []) {
  check.knownOptions(name, o, [...NAMES, ...extra]);
  return {
    learningRate: check.learningRate(o.learningRate ?? 1e-3),
    b1: check.unitInterval("b1", o.b1 ?? 0.9),
    b2: check.unitInterval("b2", o.b2 ?? 0.999),
    eps: check.nonNegative("eps", o.eps ?? 1e-8),
    amsgrad: check.boolean("amsgrad", o.amsgrad ?? false),
  };
}

export function adam(options: AdamOptions = {}) {
  const o = adamOptions("adam", options);
  const weightDecay = check.nonNegative("weightDecay", options.weightDecay ?? 0);
  return chain(
    ...(weightDecay > 0 ? [addDecayedWeights(weightDecay)] : []),
    scaleByAdam(o),
    scaleByLearningRate(o.learningRate),
  );
}

export function adamw(options: AdamWOptions = {}) {
  const { weightDecayMask, ...rest } = options;
  const o = adamOptions("adamw", rest);
  const weightDecay = check.nonNegative("weightDecay", options.weightDecay ?? 1e-2);
  return chain(
    scaleByAdam(o),
    ...(weightDecay > 0 ? [addDecayedWeights(weightDecay, weightDecayMask)] : []),
    scaleByLearningRate(o.learningRate),
  );
}

export const amsgrad = (options: AdamOptions = {}) => adam({ ...options, amsgrad: true });
