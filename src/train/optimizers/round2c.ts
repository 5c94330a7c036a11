/**
 * Registry entries of issue 17's second round, part c: the loss landscape's induced-metric
 * optimisers (Harvey 2025), the SGD form (with the plain or log-loss embedding) and the Adam form.
 */
import {
  INDUCED_METRIC_ADAM_DEFAULTS,
  INDUCED_METRIC_DEFAULTS,
  inducedMetric,
  inducedMetricAdam,
} from "../../optim/optimizers/induced-metric.js";
import { type OptimizerEntry, optionSpecs } from "./spec.js";

const METRIC = {
  xi: "metric strength ξ (weight of ‖g‖² in the damping)",
  beta: "decay of the average of ξ‖g‖²",
  weightDecay: "weight decay (decoupled)",
} as const;

export const round2c: OptimizerEntry[] = [
  {
    name: "induced-metric",
    description: "Induced-metric SGD: momentum damped by 1/(1+ξ‖g‖²), the loss graph's metric",
    reference:
      "harveyThomas4692/Induced-Metric-Optimiser CustomSGD, CustomSGDLog (reference script)",
    // Tiny model, 150 steps: 0.1 (the authors' default) / 0.3 reach 3.17 / 3.06 (their tuned
    // Shakespeare run: 0.47).
    defaultLearningRate: 0.3,
    options: optionSpecs(INDUCED_METRIC_DEFAULTS, {
      momentum: "momentum decay (bias-corrected average)",
      ...METRIC,
      embedding: "loss, or log-loss (the graph of log L: damping L/(L²+ξ‖g‖²))",
    }),
    create: (o) => inducedMetric(o),
  },
  {
    name: "induced-metric-adam",
    description: "Induced-metric Adam: Adam's step damped by 1/(1+ξ·gᵀγ⁻¹g), γ Adam's metric",
    reference: "harveyThomas4692/Induced-Metric-Optimiser CustomSGDRMS (reference script)",
    // Tiny model, 150 steps: 3e-3 / 1e-2 reach 3.22 / 2.98 (AdamW at 3e-3: 3.01).
    defaultLearningRate: 1e-2,
    options: optionSpecs(INDUCED_METRIC_ADAM_DEFAULTS, {
      b1: "first-moment decay",
      b2: "second-moment decay",
      eps: "denominator epsilon",
      ...METRIC,
    }),
    create: (o) => inducedMetricAdam(o),
  },
];
