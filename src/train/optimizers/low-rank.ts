/**
 * Registry entries of the memory-efficient low-rank family (GaLore and relatives).
 * As in the GaLore paper's LLaMA runs, only the attention and MLP matrices are projected; the
 * embeddings, norms and (untied) output head use the same optimizer without projection.
 */
import * as optim from "../../optim/index.js";
import {
  ADAFACTOR_DESCRIPTIONS,
  ADAM_DESCRIPTIONS as ADAM,
  type OptimizerEntry,
  optionSpecs,
  withoutRelativeStep,
} from "./spec.js";

/** Descriptions of the projection options the GaLore family shares. */
const PROJECTION = {
  rank: "projection rank r",
  updateProjGap: "refresh the projection every T steps",
  projType: "std, reverse_std, left, right or full",
  projector: "svd, randomized_svd, random, dct, online_pca or grass",
  seed: "seed of the random projectors",
} as const;

/** GaLore's options over Adam. */
const GALORE = {
  ...PROJECTION,
  scale: "α on the projected-back update",
  ...ADAM,
  weightDecay: "weight decay (decoupled, after the step)",
} as const;

/** Registry options → factory options: the projection mask added. */
const withMask = <T>(o: Record<string, unknown>) => ({ ...o, mask: optim.hiddenMatrices }) as T;

export const lowRank: OptimizerEntry[] = [
  {
    name: "galore",
    description: "GaLore: Adam in a low-rank gradient subspace",
    reference: "jiaweizzhao/GaLore adamw (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.GALORE_DEFAULTS, GALORE),
    create: (o) => optim.galore(withMask(o)),
  },
  {
    name: "tensor-galore",
    description:
      "GaLore with Tensor-GaLore's Tucker projection of ≥3-D leaves (matrices as GaLore)",
    reference: "Tucker/HOSVD reference script (round2b_tucker.py)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.TENSOR_GALORE_DEFAULTS, GALORE),
    create: (o) => optim.tensorGalore(withMask(o)),
  },
  {
    name: "galore-adafactor",
    description: "GaLore over Adafactor (no first moment)",
    reference: "jiaweizzhao/GaLore adafactor (reference script)",
    defaultLearningRate: 1e-2,
    options: optionSpecs(withoutRelativeStep(optim.GALORE_ADAFACTOR_DEFAULTS), {
      ...PROJECTION,
      scale: "α on the projected-back update",
      ...ADAFACTOR_DESCRIPTIONS,
    }),
    create: (o) => optim.galoreAdafactor(withMask({ ...o, relativeStep: false })),
  },
  {
    name: "galore-8bit",
    description: "GaLore with blockwise 8-bit moments",
    reference: "GaLore AdamW with a blockwise int8 codec (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.GALORE_8BIT_DEFAULTS, {
      ...GALORE,
      blockSize: "quantisation block",
      minQuantizedSize: "moments with fewer entries stay float32",
      quantMap: "linear (absmax) or dynamic (bitsandbytes' map) moment codes",
    }),
    create: (o) => optim.galore8bit(withMask(o)),
  },
  {
    name: "q-galore",
    description: "Q-GaLore: INT4 projections, layer-adaptive refresh",
    reference: "the authors' projector + GaLore AdamW (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.Q_GALORE_DEFAULTS, {
      ...GALORE,
      projBits: "bits per basis entry",
      projGroupSize: "basis entries per quantisation group",
      cosThreshold: "skip refreshes while successive projections stay this similar",
      gammaProj: "growth factor of the refresh period",
      queueSize: "similar refreshes before the gap grows",
      moments: "int8 (blockwise linear), dynamic (bitsandbytes' map) or float32 moments",
      momentBlockSize: "block size of the int8 moments",
      weightBits: "8: keep projected matrices on an INT8 grid; 0: float weights",
      weightGroupSize: "entries per INT8 weight group",
      stochasticRound: "stochastic rounding of the INT8 weights",
    }),
    create: (o) => optim.qGalore(withMask(o)),
  },
  {
    name: "fira",
    description: "Fira: low-rank Adam + scaled full-rank residual",
    reference: "the authors' Fira code (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.FIRA_DEFAULTS, {
      ...GALORE,
      normGrowthLimit: "norm-growth limiter γ",
    }),
    create: (o) => optim.fira(withMask(o)),
  },
  {
    name: "frugal",
    description: "FRUGAL: Adam in a subspace, signSGD on the rest",
    reference: "the authors' FRUGAL templates (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.FRUGAL_DEFAULTS, {
      mode: "projection or blocks",
      ...PROJECTION,
      density: "share of blocks with Adam (blocks mode)",
      blockOrder: "which blocks become active (blocks mode)",
      stateFree: "signSgd or sgd for the complement",
      stateFreeLrScale: "the complement's step relative to the learning rate",
      ...ADAM,
      weightDecay: "weight decay (decoupled)",
    }),
    create: (o) => optim.frugal(withMask(o)),
  },
  {
    name: "gwt",
    description: "Gradient Wavelet Transform: Adam on Haar approximation coefficients",
    reference: "the paper's algorithm (reference script)",
    defaultLearningRate: 3e-3,
    options: optionSpecs(optim.GWT_DEFAULTS, {
      levels: "Haar levels",
      scale: "α on the update",
      ...ADAM,
      weightDecay: "weight decay (decoupled)",
    }),
    create: (o) => optim.gwt(withMask(o)),
  },
];
