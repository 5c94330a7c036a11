/**
 * Registry entries of the memory-efficient low-rank family (GaLore and relatives).
 * As in the GaLore paper's LLaMA runs, only the attention and MLP matrices are projected; the
 * embeddings, norms and (untied) output head use the same optimizer without projection.
 */
import * as optim from "../../optim/index.js";
import { b1, b2, eps, num, type OptimizerEntry, type OptionSpec, str, wd } from "./spec.js";

const galoreSpecs = (rank = 32): OptionSpec[] => [
  num("rank", rank, "projection rank r"),
  num("updateProjGap", 200, "refresh the projection every T steps"),
  num("scale", 0.25, "α on the projected-back update"),
  str("projType", "std", "std, reverse_std, left, right or full"),
  str("projector", "svd", "svd, randomized_svd, random, dct, online_pca or grass"),
  b1(),
  b2(),
  eps(1e-6),
  wd(0, "decoupled"),
];

/** Registry options → factory options: the projection mask added. */
const withMask = (o: Record<string, unknown>) =>
  ({ ...o, mask: optim.hiddenMatrices }) as optim.GaloreOptions;

export const lowRank: OptimizerEntry[] = [
  {
    name: "galore",
    description: "GaLore: Adam in a low-rank gradient subspace",
    reference: "jiaweizzhao/GaLore adamw (reference script)",
    defaultLearningRate: 3e-3,
    options: galoreSpecs(),
    create: (o) => optim.galore(withMask(o)),
  },
  {
    name: "galore-adafactor",
    description: "GaLore over Adafactor",
    reference: "jiaweizzhao/GaLore adafactor (reference script)",
    defaultLearningRate: 1e-2,
    options: galoreSpecs().filter((s) => !["b2", "eps"].includes(s.name)),
    create: (o) => optim.galoreAdafactor({ ...withMask(o), relativeStep: false } as never),
  },
  {
    name: "galore-8bit",
    description: "GaLore with blockwise 8-bit moments",
    reference: "GaLore AdamW with a blockwise int8 codec (reference script)",
    defaultLearningRate: 3e-3,
    options: [...galoreSpecs(), num("blockSize", 256, "quantisation block")],
    create: (o) => optim.galore8bit(withMask(o) as optim.Galore8bitOptions),
  },
  {
    name: "q-galore",
    description: "Q-GaLore: INT4 projections, layer-adaptive refresh",
    reference: "the authors' projector + GaLore AdamW (reference script)",
    defaultLearningRate: 3e-3,
    options: [
      ...galoreSpecs(),
      num("cosThreshold", 0.4, "skip refreshes while successive projections stay this similar"),
      num("queueSize", 5, "similar refreshes before the gap grows"),
    ],
    create: (o) => optim.qGalore(withMask(o) as optim.QGaloreOptions),
  },
  {
    name: "fira",
    description: "Fira: low-rank Adam + scaled full-rank residual",
    reference: "the authors' Fira code (reference script)",
    defaultLearningRate: 3e-3,
    options: [...galoreSpecs(), num("normGrowthLimit", 1.01, "norm-growth limiter γ")],
    create: (o) => optim.fira(withMask(o) as optim.FiraOptions),
  },
  {
    name: "frugal",
    description: "FRUGAL: Adam in a subspace, signSGD on the rest",
    reference: "the authors' FRUGAL templates (reference script)",
    defaultLearningRate: 3e-3,
    options: [
      str("mode", "projection", "projection or blocks"),
      num("rank", 32, "subspace rank (projection mode)"),
      num("updateProjGap", 200, "refresh every T steps"),
      num("density", 0.25, "share of blocks with Adam (blocks mode)"),
      str("stateFree", "signSgd", "signSgd or sgd for the complement"),
      b1(),
      b2(),
      eps(),
      wd(0, "decoupled"),
    ],
    create: (o) => optim.frugal({ ...o, mask: optim.hiddenMatrices } as optim.FrugalOptions),
  },
  {
    name: "gwt",
    description: "Gradient Wavelet Transform: Adam on Haar approximation coefficients",
    reference: "the paper's algorithm (reference script)",
    defaultLearningRate: 3e-3,
    options: [
      num("levels", 2, "Haar levels"),
      num("scale", 0.25, "α on the update"),
      b1(),
      b2(),
      eps(),
      wd(0, "decoupled"),
    ],
    create: (o) => optim.gwt({ ...o, mask: optim.hiddenMatrices } as optim.GwtOptions),
  },
];
