/** Registry entries of the classic optimizers (PyTorch semantics). */
import * as optim from "../../optim/index.js";
import {
  ADAFACTOR_DESCRIPTIONS,
  ADAM_DESCRIPTIONS as ADAM,
  type OptimizerEntry,
  optionSpecs,
  withoutRelativeStep,
} from "./spec.js";

/** The CLI's SGD: Nesterov momentum 0.9 (the factory's default is torch's plain SGD). */
const SGD_PRESET = { ...optim.SGD_DEFAULTS, momentum: 0.9, nesterov: true } as const;

export const classic: OptimizerEntry[] = [
  {
    name: "adamw",
    description: "Adam with decoupled weight decay",
    reference: "torch.optim.AdamW",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.ADAMW_DEFAULTS, {
      ...ADAM,
      weightDecay: "weight decay (decoupled)",
      amsgrad: "AMSGrad maximum",
    }),
    create: (o) => optim.adamw(o),
  },
  {
    name: "adam",
    description: "Adam (L2 weight decay)",
    reference: "torch.optim.Adam",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.ADAM_DEFAULTS, {
      ...ADAM,
      weightDecay: "weight decay (L2)",
      amsgrad: "AMSGrad maximum",
    }),
    create: (o) => optim.adam(o),
  },
  {
    name: "amsgrad",
    description: "Adam with the running maximum of v",
    reference: "torch.optim.Adam(amsgrad=True)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.AMSGRAD_DEFAULTS, { ...ADAM, weightDecay: "weight decay (L2)" }),
    create: (o) => optim.amsgrad(o),
  },
  {
    name: "sgd",
    description: "SGD with momentum and Nesterov",
    reference: "torch.optim.SGD",
    defaultLearningRate: 0.1,
    options: optionSpecs(SGD_PRESET, {
      momentum: "momentum",
      dampening: "momentum dampening",
      nesterov: "Nesterov momentum",
      weightDecay: "weight decay (L2)",
    }),
    create: (o) => optim.sgd({ ...SGD_PRESET, ...o }),
  },
  {
    name: "rmsprop",
    description: "RMSprop (optionally centered, with momentum)",
    reference: "torch.optim.RMSprop",
    defaultLearningRate: 1e-3,
    options: optionSpecs(optim.RMSPROP_DEFAULTS, {
      decay: "squared-gradient decay (torch alpha)",
      eps: ADAM.eps,
      momentum: "momentum",
      centered: "subtract the mean gradient",
      weightDecay: "weight decay (L2)",
    }),
    create: (o) => optim.rmsprop(o),
  },
  {
    name: "adagrad",
    description: "Adagrad",
    reference: "torch.optim.Adagrad",
    defaultLearningRate: 1e-2,
    options: optionSpecs(optim.ADAGRAD_DEFAULTS, {
      lrDecay: "learning-rate decay",
      weightDecay: "weight decay (L2)",
      initialAccumulatorValue: "initial accumulator",
      eps: ADAM.eps,
    }),
    create: (o) => optim.adagrad(o),
  },
  {
    name: "adamax",
    description: "Adam with the infinity norm",
    reference: "torch.optim.Adamax",
    defaultLearningRate: 2e-3,
    options: optionSpecs(optim.ADAMAX_DEFAULTS, { ...ADAM, weightDecay: "weight decay (L2)" }),
    create: (o) => optim.adamax(o),
  },
  {
    name: "nadam",
    description: "Adam with Nesterov momentum",
    reference: "torch.optim.NAdam",
    defaultLearningRate: 2e-3,
    options: optionSpecs(optim.NADAM_DEFAULTS, {
      ...ADAM,
      weightDecay: "weight decay (L2)",
      momentumDecay: "momentum decay ψ",
    }),
    create: (o) => optim.nadam(o),
  },
  {
    name: "radam",
    description: "Rectified Adam",
    reference: "torch.optim.RAdam",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.RADAM_DEFAULTS, { ...ADAM, weightDecay: "weight decay (L2)" }),
    create: (o) => optim.radam(o),
  },
  {
    name: "adafactor",
    description: "Adafactor with factored second moments",
    reference: "transformers Adafactor (reference script)",
    defaultLearningRate: 1e-2,
    options: optionSpecs(withoutRelativeStep(optim.ADAFACTOR_DEFAULTS), ADAFACTOR_DESCRIPTIONS),
    create: (o) => optim.adafactor({ ...o, relativeStep: false }),
  },
  {
    name: "lion",
    description: "Lion (sign of interpolated momentum)",
    reference: "google/automl lion (reference script)",
    defaultLearningRate: 3e-4,
    options: optionSpecs(optim.LION_DEFAULTS, {
      b1: "interpolation of momentum and gradient",
      b2: "momentum decay",
      weightDecay: "weight decay (decoupled)",
    }),
    create: (o) => optim.lion(o),
  },
  {
    name: "signum",
    description: "sign of momentum",
    reference: "Bernstein et al. 2018 (reference script)",
    defaultLearningRate: 3e-4,
    options: optionSpecs(optim.SIGNUM_DEFAULTS, {
      momentum: "momentum",
      weightDecay: "weight decay (L2)",
    }),
    create: (o) => optim.signum(o),
  },
  {
    name: "novograd",
    description: "NovoGrad (layer-wise second moment)",
    reference: "NVIDIA apex NovoGrad (reference script)",
    defaultLearningRate: 1e-2,
    options: optionSpecs(optim.NOVOGRAD_DEFAULTS, {
      ...ADAM,
      weightDecay: "weight decay (L2, inside the normalised gradient)",
      gradAveraging: "scale by 1−β1",
    }),
    create: (o) => optim.novograd(o),
  },
];
