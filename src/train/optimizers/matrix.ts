/**
 * Registry entries of the matrix-aware optimizers. Hidden matrices (attention and MLP weights) go
 * to the method; embeddings, the output head, norms and other vectors go to AdamW, as in the
 * authors' LLaMA/GPT setups. The AdamW part follows the same learning-rate schedule, scaled by
 * `adamwLrRatio` (Muon, ASGO) or at the method's own rate (SOAP, Shampoo, COSMOS).
 */

import type { ScalarOrSchedule } from "../../optim/core.js";
import * as optim from "../../optim/index.js";
import { ADAM_DESCRIPTIONS as ADAM, type OptimizerEntry, optionSpecs } from "./spec.js";

const scaled = (lr: ScalarOrSchedule, ratio: number): ScalarOrSchedule =>
  typeof lr === "function" ? (step: number) => lr(step) * ratio : lr * ratio;

/** Registry options → factory options: hidden-matrix routing and the AdamW part. */
function route(o: Record<string, unknown> & { learningRate: ScalarOrSchedule }, auxRatio?: number) {
  const { adamwLrRatio, ...rest } = o;
  const ratio = (adamwLrRatio as number | undefined) ?? auxRatio;
  return {
    ...rest,
    isMatrix: optim.hiddenMatrices,
    ...(ratio === undefined
      ? {}
      : { adamw: { ...optim.MUON_ADAMW_DEFAULTS, learningRate: scaled(o.learningRate, ratio) } }),
  };
}

/** The registry's own option: the AdamW part's learning rate relative to the method's. */
const AUX_RATIO = "AdamW learning rate of non-matrix leaves ÷ the method's";

export const matrix: OptimizerEntry[] = [
  {
    name: "muon",
    description:
      "Muon: orthogonalised momentum (Newton–Schulz) for hidden matrices, AdamW elsewhere",
    reference: "KellerJordan/Muon (reference script)",
    defaultLearningRate: 0.02,
    options: optionSpecs(
      { ...optim.MUON_DEFAULTS, adamwLrRatio: 0.15 },
      {
        momentum: "momentum (EMA)",
        nesterov: "Nesterov blend",
        nsSteps: "Newton–Schulz iterations",
        scaling: "original (sqrt(max(1, rows/cols))) or matchAdamW (0.2·sqrt(max dim))",
        weightDecay: "weight decay (decoupled)",
        adamwLrRatio: AUX_RATIO,
      },
    ),
    create: (o) => optim.muon(route(o, 0.15) as optim.MuonOptions),
  },
  {
    name: "soap",
    description: "SOAP: Adam in the eigenbasis of Shampoo's preconditioners",
    reference: "nikhilvyas/SOAP (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.SOAP_DEFAULTS, {
      ...ADAM,
      shampooBeta: { type: "number", description: "decay of the statistics (unset: b2)" },
      weightDecay: "weight decay (after the step)",
      precondFrequency: "eigenbasis refresh period",
      maxPrecondDim: "sides longer than this are not preconditioned",
      mergeDims: "merge consecutive dimensions up to maxPrecondDim (the authors' merge_dims)",
      normalizeGrads: "normalise the direction's RMS",
      correctBias: "Adam's bias correction",
      blockSize: "cut longer sides into blocks preconditioned apart (0 = off)",
    }),
    create: (o) => optim.soap(route(o) as optim.SoapOptions),
  },
  {
    name: "shampoo",
    description: "Shampoo with Adam grafting",
    reference: "Gupta et al. 2018; Anil et al. 2020 (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.SHAMPOO_DEFAULTS, {
      b1: "momentum of the direction",
      b2: "decay of the statistics (1 = sum)",
      matrixEps: "relative ridge",
      precondFrequency: "inverse-root refresh period",
      startPrecondStep: {
        type: "number",
        description: "first preconditioned step (unset: precondFrequency)",
      },
      graft: "adam, sgd or none",
      graftEps: "epsilon of the Adam graft",
      maxPrecondDim: "sides longer than this are not preconditioned",
      weightDecay: "weight decay (decoupled)",
      blockSize: "cut longer sides into blocks preconditioned apart (0 = off)",
    }),
    create: (o) => optim.shampoo(route(o) as optim.ShampooOptions),
  },
  {
    name: "asgo",
    description: "ASGO: one-sided adaptive preconditioning",
    reference: "infinity-stars/ASGO (reference script)",
    defaultLearningRate: 1e-2,
    options: optionSpecs(
      { ...optim.ASGO_DEFAULTS, adamwLrRatio: 0.3 },
      {
        momentum: "momentum",
        b2: "decay of the one-sided statistic",
        eps: "normalisation epsilon of the statistic",
        steps: "PolarExpress iterations",
        weightDecay: "weight decay (decoupled)",
        adamwLrRatio: AUX_RATIO,
      },
    ),
    create: (o) => optim.asgo(route(o, 0.3) as optim.AsgoOptions),
  },
  {
    name: "cosmos",
    description: "COSMOS: SOAP on the leading eigen-subspace, Muon on the rest",
    reference: "lliu606/COSMOS (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.COSMOS_DEFAULTS, {
      ...ADAM,
      rank: "eigen-subspace rank",
      lrRatio: "Muon part's rate ratio",
      weightDecay: "weight decay (decoupled)",
    }),
    create: (o) => optim.cosmos(route(o) as optim.CosmosOptions),
  },
  {
    name: "psgd-kron",
    description: "PSGD with Kronecker-factored preconditioners",
    reference: "evanatyourservice/kron_torch (reference script)",
    defaultLearningRate: 1e-3,
    options: optionSpecs(optim.PSGD_KRON_DEFAULTS, {
      b1: "momentum",
      precondLr: "preconditioner step size",
      precondInitScale: "initial preconditioner scale",
      precondUpdateProb: "share of steps that update the preconditioner",
      maxSizeTriangular: "longer sides get a diagonal factor",
      seed: "seed of the probe vectors",
      weightDecay: "weight decay (decoupled)",
    }),
    create: (o) => optim.psgdKron(route(o) as optim.PsgdKronOptions),
  },
];
