/**
 * Registry entries of issue 17's second round, part d: training in a reparametrisation kept by the
 * optimizer — Sparse Spectral Training (U diag(s) Vᵀ) — on the hidden matrices; embeddings, the
 * head and vectors take AdamW with the same options.
 */

import { SST_DEFAULTS, sst } from "../../optim/optimizers/sst.js";
import { hiddenMatrices } from "../../optim/transforms/matrix-partition.js";
import { ADAM_DESCRIPTIONS as ADAM, type OptimizerEntry, optionSpecs } from "./spec.js";

export const round2d: OptimizerEntry[] = [
  {
    name: "sst",
    description: "SST: AdamW on every singular value and a sampled few singular vectors",
    reference: "the paper's Algorithm 1, same draws (reference script)",
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
];
