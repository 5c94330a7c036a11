/** Registry entries of the stabilising optimizers and the modern Adam family. */
import * as optim from "../../optim/index.js";
import { ADAM_DESCRIPTIONS as ADAM, type OptimizerEntry, optionSpecs } from "./spec.js";

/** The CLI's SGDP: momentum 0.9, as SGD's (the factory's default is torch's plain SGD). */
const SGDP_PRESET = { ...optim.SGDP_DEFAULTS, momentum: 0.9 } as const;

/** GradES around AdamW; the CLI's τ 1e-3 and patience 5 (the rule has no default τ). */
const GRADES_PRESET = { ...optim.GRADES_DEFAULTS, threshold: 1e-3, patience: 5 } as const;
const GRADES_ADAMW = { ...optim.ADAMW_DEFAULTS, ...GRADES_PRESET } as const;

export const adaptive: OptimizerEntry[] = [
  {
    name: "lamb",
    description: "LAMB: Adam direction with a layer-wise trust ratio",
    reference: "the paper's Algorithm 2 (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.LAMB_DEFAULTS, {
      ...ADAM,
      weightDecay: "weight decay (decoupled, inside the trust ratio)",
      clampValue: "upper clamp of ‖p‖ in the trust ratio (0 = none)",
    }),
    create: (o) => optim.lamb(o),
  },
  {
    name: "xgrad-adamw",
    description: "AdamW with XGrad weight prediction (gradient at the predicted weights)",
    reference: "guanleics/XGrad's prediction rule (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.XGRAD_ADAMW_DEFAULTS, {
      ...ADAM,
      weightDecay: "weight decay (decoupled)",
      amsgrad: "AMSGrad maximum",
      predictSteps: "steps predicted ahead (s)",
    }),
    create: ({ predictSteps, ...o }) => {
      if (
        predictSteps !== undefined &&
        !(Number.isInteger(predictSteps) && (predictSteps as number) >= 1)
      )
        throw new RangeError(`predictSteps must be an integer ≥ 1, got ${String(predictSteps)}`);
      return optim.adamw(o);
    },
    predict: (params, state, schedule, options) => {
      const o = { ...optim.XGRAD_ADAMW_DEFAULTS, ...options };
      // AdamW's chain: scaleByAdam first.
      const adamState = (state as [optim.AdamState])[0];
      return optim.xgradPredict(params, adamState, {
        learningRate: schedule(adamState.count),
        b1: o.b1,
        b2: o.b2,
        eps: o.eps,
        steps: o.predictSteps,
      });
    },
  },
  {
    name: "stable-spam",
    description: "Stable-SPAM: AdaClip + AdaGN + periodic momentum reset",
    reference: "TianjinYellow/StableSPAM (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.STABLE_SPAM_DEFAULTS, {
      ...ADAM,
      weightDecay: "weight decay (decoupled)",
      gamma1: "AdaGN decay of mean ‖g‖",
      gamma2: "AdaGN decay of mean ‖g‖²",
      theta: "AdaClip decay of max|g|",
      resetInterval: "momentum reset interval (0 = never)",
      totalT: { type: "number", description: "cosine decay horizon of β1, γ1 (unset = none)" },
      etaMin: "floor of that cosine decay",
      resetTiming: "paper or reference (authors' code: one step late)",
    }),
    create: (o) => optim.stableSpam(o),
  },
  {
    name: "spam",
    description: "SPAM: momentum reset with warm-up, spike-aware clipping",
    reference: "TianjinYellow/SPAM-Optimizer (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.SPAM_DEFAULTS, {
      ...ADAM,
      weightDecay: "weight decay (after the step)",
      resetInterval: "momentum reset interval (0 = never)",
      warmupSteps: "cosine warm-up after each reset",
      spikeThreshold: "spike threshold θ on g²/v (0 = no clipping)",
      clipDelay: "steps before clipping starts, and after each reset",
      density: "share of a matrix's entries with moments (sparse momentum; 1 = dense)",
      seed: "seed of the sparse-momentum subsets",
    }),
    // Sparse momentum on the hidden matrices only, as the authors' attention/MLP layers.
    create: (o) => optim.spam({ ...o, isSparse: optim.hiddenMatrices }),
  },
  {
    name: "ademamix",
    description: "AdEMAMix: fast and slow momentum mixture",
    reference: "apple/ml-ademamix (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.ADEMAMIX_DEFAULTS, {
      ...ADAM,
      b3: "slow EMA decay",
      alpha: "slow EMA weight",
      alphaWarmup: { type: "number", description: "α warm-up steps (unset = none)" },
      beta3Warmup: { type: "number", description: "β3 warm-up steps (unset = none)" },
      weightDecay: "weight decay (decoupled)",
    }),
    create: (o) => optim.ademamix(o),
  },
  {
    name: "grams",
    description: "Grams: Adam magnitude with the gradient's sign",
    reference: "the paper's Algorithm 1 (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.GRAMS_DEFAULTS, {
      ...ADAM,
      weightDecay: "weight decay (decoupled)",
      amsgrad: "AMSGrad maximum",
    }),
    create: (o) => optim.grams(o),
  },
  {
    name: "fadam",
    description: "FAdam: Fisher Adam",
    reference: "kozistr/pytorch_optimizer fadam (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.FADAM_DEFAULTS, {
      ...ADAM,
      weightDecay: "weight decay (decoupled, natural-gradient scaled)",
      clip: "RMS clip",
      p: "Fisher power",
    }),
    create: (o) => optim.fadam(o),
  },
  {
    name: "diffgrad",
    description: "diffGrad: friction from gradient change",
    reference: "shivram1987/diffGrad (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.DIFFGRAD_DEFAULTS, { ...ADAM, weightDecay: "weight decay (L2)" }),
    create: (o) => optim.diffgrad(o),
  },
  {
    name: "adamp",
    description: "AdamP: Adam without radial updates of scale-invariant weights",
    reference: "clovaai/AdamP (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.ADAMP_DEFAULTS, {
      ...ADAM,
      weightDecay: "weight decay (L2)",
      delta: "cosine threshold",
      wdRatio: "decay ratio",
      nesterov: "Nesterov",
    }),
    create: (o) => optim.adamp(o),
  },
  {
    name: "sgdp",
    description: "SGDP: SGD without radial updates of scale-invariant weights",
    reference: "clovaai/AdamP (reference script)",
    defaultLearningRate: 0.1,
    options: optionSpecs(SGDP_PRESET, {
      momentum: "momentum",
      dampening: "momentum dampening",
      weightDecay: "weight decay (L2)",
      nesterov: "Nesterov",
      eps: "epsilon of the cosine test",
      delta: "cosine threshold",
      wdRatio: "decay ratio",
    }),
    create: (o) => optim.sgdp({ ...SGDP_PRESET, ...o }),
  },
  {
    name: "mars",
    description: "MARS-AdamW: variance-reduced AdamW",
    reference: "AGI-Arena/MARS (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.MARS_DEFAULTS, {
      ...ADAM,
      gamma: "correction strength",
      weightDecay: "weight decay (decoupled)",
      optimize1d: "MARS on vectors too (else AdamW)",
      learningRate1d: "learning rate of the AdamW on vectors",
      weightDecay1d: "weight decay of the AdamW on vectors",
    }),
    create: (o) => optim.mars(o),
  },
  {
    name: "cautious-adamw",
    description: "AdamW with cautious masking (C-AdamW)",
    reference: "kyleliang919/C-Optim (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.ADAMW_DEFAULTS, {
      ...ADAM,
      weightDecay: "weight decay (decoupled)",
      amsgrad: "AMSGrad maximum",
    }),
    create: (o) => optim.cautious(optim.adamw(o)),
  },
  {
    name: "grades-adamw",
    description: "AdamW with GradES freezing of converged matrices",
    reference: "the GradES freezing rule (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(GRADES_ADAMW, {
      ...ADAM,
      weightDecay: "weight decay (decoupled)",
      amsgrad: "AMSGrad maximum",
      threshold: "freeze below this gradient norm",
      patience: "steps below threshold",
      gracePeriod: "steps before anything may freeze",
      metric: "l2 or meanAbs: the gradient statistic",
    }),
    create: (options) => {
      const rule: Record<string, unknown> = { ...GRADES_PRESET };
      const o: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(options)) (k in GRADES_PRESET ? rule : o)[k] = v;
      return optim.grades(optim.adamw(o), rule as unknown as optim.GradesOptions);
    },
    metrics: (state) => ({ frozen: optim.frozenPaths(state as { frozen: never }).length }),
  },
];
