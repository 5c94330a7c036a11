/**
 * Registry entries of issue 17's second round, part d: training in a reparametrisation kept by the
 * optimizer — Sparse Spectral Training (U diag(s) Vᵀ), SLTrain ((α/r)·B A + S) — on the hidden
 * matrices; embeddings, the head and vectors take AdamW with the same options.
 */

import {
  SLTRAIN_DEFAULTS,
  type SltrainState,
  sltrain,
  sltrainPoint,
} from "../../optim/optimizers/sltrain.js";
import { SST_DEFAULTS, sst } from "../../optim/optimizers/sst.js";
import { hiddenMatrices } from "../../optim/transforms/matrix-partition.js";
import { ADAM_DESCRIPTIONS as ADAM, type OptimizerEntry, optionSpecs } from "./spec.js";

export const round2d: OptimizerEntry[] = [
  {
    name: "sst",
    description: "SST: AdamW on every singular value and a sampled few singular vectors",
    reference: "the paper's rule as summarised; authors' code unavailable (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(SST_DEFAULTS, {
      rank: "singular-vector pairs trained per iteration r",
      iterationSteps: "steps between draws T3",
      roundIterations: "iterations per round, then re-SVD (0: ⌈min(m,n)/r⌉)",
      uniformMix: "weight of the uniform law in the draw (paper: ½)",
      enhancedGradient: "the paper's enhanced gradient (false: exact chain rule)",
      ...ADAM,
      weightDecay: "weight decay (decoupled)",
      seed: "seed of the draws",
    }),
    create: (o) => sst({ ...o, mask: hiddenMatrices }),
  },
  {
    name: "sltrain",
    description: "SLTrain: AdamW on W = (α/r)·B A + S, S sparse on a fixed random support",
    reference: "andyjm3/SLTrain SpLoRaLinear + torch AdamW (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(SLTRAIN_DEFAULTS, {
      rank: "rank r of B A",
      loraAlpha: "α (the low-rank part is scaled by α/r)",
      density: "fraction δ of each matrix's entries in S's support",
      ...ADAM,
      weightDecay: "weight decay (decoupled)",
      seed: "seed of A, the supports and S",
    }),
    create: (o) => sltrain({ ...o, mask: hiddenMatrices }),
    // The first gradient at the SLTrain weights (the model's own W is discarded, as the authors do).
    predict: (params, state, _schedule, options) =>
      sltrainPoint(params, (state as { matrix?: SltrainState }).matrix, options),
  },
];
