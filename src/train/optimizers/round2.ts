/**
 * Registry entries of the second round's named optimizers (issue 17): block-coordinate and
 * layer-sampling AdamW (BAdam, LISA), Polyak-type steps (SANIA), matrix-free inverse Fisher
 * (M-FAC), correlation-aware projection (COAP) and the rest. Options and defaults come from each
 * factory's exported defaults; only the descriptions are written here.
 */
import { ADAFISHER_DEFAULTS, adafisher } from "../../optim/optimizers/adafisher.js";
import { BADAM_DEFAULTS, badam } from "../../optim/optimizers/badam.js";
import { COAP_DEFAULTS, coap } from "../../optim/optimizers/coap.js";
import { GRADNORMLORP_DEFAULTS, gradnormlorp } from "../../optim/optimizers/gradnormlorp.js";
import { LISA_DEFAULTS, lisa } from "../../optim/optimizers/lisa.js";
import { M_FAC_DEFAULTS, mfac } from "../../optim/optimizers/m-fac.js";
import { SANIA_DEFAULTS, sania } from "../../optim/optimizers/sania.js";
import { hiddenMatrices } from "../../optim/transforms/matrix-partition.js";
import { ADAM_DESCRIPTIONS as ADAM, type OptimizerEntry, optionSpecs } from "./spec.js";

export const round2: OptimizerEntry[] = [
  {
    name: "badam",
    description: "BAdam: AdamW on one block of layers at a time",
    reference: "Ledzy/BAdam BlockOptimizer + torch AdamW (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(BADAM_DEFAULTS, {
      switchBlockEvery: "steps per block K",
      switchMode: "descending, ascending, random or fixed",
      startBlock: { type: "number", description: "first block (unset: by switchMode)" },
      includeEmbedding: "the embedding is a block (else never trained)",
      includeLmHead: "the head and other leaves are a block (else never trained)",
      ...ADAM,
      weightDecay: "weight decay (decoupled; none on biases)",
      seed: "seed of the random order",
    }),
    create: (o) => badam(o),
  },
  {
    name: "lisa",
    description: "LISA: AdamW on the embedding, head and γ random layers",
    reference: "LMFlow DynamicLayerActivationCallback + torch AdamW (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(LISA_DEFAULTS, {
      activatedLayers: "layers trained at a time γ",
      intervalSteps: "steps between draws K",
      ...ADAM,
      weightDecay: "weight decay (decoupled; matrices only)",
      seed: "seed of the draws",
    }),
    create: (o) => lisa(o),
  },
  {
    name: "sania",
    description: "SANIA: preconditioned Polyak step from the loss (no step size to tune)",
    reference: "the authors' SANIA_AdagradSQR / SANIA_AdamSQR (reference script)",
    defaultLearningRate: 1,
    options: optionSpecs(SANIA_DEFAULTS, {
      preconditioner: "adagrad (AdaGrad-SQR) or adam (Adam-SQR)",
      sqrt: "precondition by √B (not scale-invariant)",
      b2: "Adam-SQR's second-moment decay",
      eps: "floor of the preconditioner",
    }),
    create: (o) => sania(o),
  },
  {
    name: "m-fac",
    description: "M-FAC: SGD with the inverse windowed empirical Fisher, matrix-free",
    reference: "IST-DASLab/M-FAC MFAC, exact inverse (reference script)",
    // Tiny model, 100 steps: 1e-2 / 3e-2 / 1e-1 reach val 3.16 / 3.85 / 9.16 (the authors' 1e-3 hardly trains).
    defaultLearningRate: 1e-2,
    options: optionSpecs(M_FAC_DEFAULTS, {
      ngrads: "gradients in the window m",
      damp: "dampening λ of the Fisher",
      momentum: "momentum on the preconditioned gradient",
      weightDecay: "weight decay (L2, added to the gradient)",
    }),
    create: (o) => mfac(o),
  },
  {
    name: "coap",
    description: "COAP: projected AdamW with a correlation-aware basis update",
    reference: "the authors' COAP AdamW projector (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(COAP_DEFAULTS, {
      rank: "projection rank r",
      updateInterval: "steps between basis updates Tu",
      reprojectFactor: "every F-th update re-fits the basis",
      scale: "α on the projected-back update",
      projLr: "step size of the basis update",
      ...ADAM,
      weightDecay: "weight decay (decoupled, after the step)",
    }),
    // As GaLore: the hidden matrices are projected, embeddings and head use AdamW.
    create: (o) => coap({ ...o, mask: hiddenMatrices }),
  },
  {
    name: "gradnormlorp",
    description: "GradNormLoRP: weight-normalised matrices, GaLore on the direction",
    reference: "the paper's rule on the authors' WeightNormGaLore split (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(GRADNORMLORP_DEFAULTS, {
      rank: "projection rank r of the direction's gradient",
      updateProjGap: "refresh the projection every T steps",
      scale: "α on the projected-back direction step",
      projType: "std, reverse_std, left, right or full",
      ...ADAM,
      weightDecay: "weight decay (decoupled, after the step)",
    }),
    create: (o) => gradnormlorp({ ...o, mask: hiddenMatrices }),
  },
  {
    name: "adafisher",
    description: "AdaFisher: momentum over a diagonal Kronecker-factored Fisher",
    reference: "AtlasAnalyticsLab/AdaFisher AdaFisher, one-example factors (reference script)",
    // Tiny model, 100 steps: 1e-3 hardly trains, 1e-2 / 3e-2 / 1e-1 reach val 3.75 / 3.29 / 3.12.
    defaultLearningRate: 3e-2,
    options: optionSpecs(ADAFISHER_DEFAULTS, {
      beta: "momentum of the gradient β",
      damping: "damping λ added to the Fisher",
      gamma0: "forgetting of the factors γ0",
      gamma1: "weight of the new diagonal γ1",
      tCov: "steps between factor updates",
      weightDecay: "weight decay (L2, added to the gradient)",
    }),
    // Every linear layer (the head included, as the authors' hooks see it), not the embedding.
    create: (o) =>
      adafisher({ ...o, mask: (leaf, path) => leaf.ndim === 2 && !/embed/.test(path) }),
  },
];
