/**
 * Registry entries of issue 17's second round, part b: MARS-Lion and MARS-Shampoo (more follow
 * as they are built). Like `mars`, matrices take the method and vectors AdamW with the *1d
 * options, unless optimize1d.
 */
import { MARS_LION_DEFAULTS, marsLion } from "../../optim/optimizers/mars-lion.js";
import { MARS_SHAMPOO_DEFAULTS, marsShampoo } from "../../optim/optimizers/mars-shampoo.js";
import { ADAM_DESCRIPTIONS as ADAM, type OptimizerEntry, optionSpecs } from "./spec.js";

const MARS_1D = {
  optimize1d: "the method on vectors too (else AdamW)",
  learningRate1d: "AdamW learning rate of vectors",
  weightDecay1d: "AdamW weight decay of vectors",
} as const;

export const round2b: OptimizerEntry[] = [
  {
    name: "mars-lion",
    description: "MARS-Lion: sign of the momentum of a variance-reduced gradient",
    reference: "AGI-Arena/MARS (reference script)",
    defaultLearningRate: 1e-4,
    options: optionSpecs(MARS_LION_DEFAULTS, {
      b1: "momentum decay",
      gamma: "variance-reduction strength",
      eps: "epsilon of the vectors' AdamW",
      weightDecay: "weight decay (decoupled)",
      ...MARS_1D,
    }),
    create: (o) => marsLion(o),
  },
  {
    name: "mars-shampoo",
    description: "MARS-Shampoo: orthogonalised momentum of a variance-reduced gradient",
    reference: "AGI-Arena/MARS (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(MARS_SHAMPOO_DEFAULTS, {
      ...ADAM,
      b2: "second-moment decay (vectors with optimize1d)",
      eps: "Newton–Schulz normalisation epsilon",
      gamma: "variance-reduction strength",
      weightDecay: "weight decay (decoupled)",
      ...MARS_1D,
    }),
    create: (o) => marsShampoo(o),
  },
];
