/**
 * Registry entries of the matrix-aware optimizers. Hidden matrices (attention and MLP weights) go
 * to the method; embeddings, the output head, norms and other vectors go to AdamW, as in the
 * authors' LLaMA/GPT setups. The AdamW part follows the same learning-rate schedule, scaled by
 * `adamwLrRatio` (Muon, ASGO) or at the method's own rate (SOAP, Shampoo, COSMOS).
 */

import type { ScalarOrSchedule } from "../../optim/core.js";
import * as optim from "../../optim/index.js";
import { b1, b2, bool, eps, num, type OptimizerEntry, str, wd } from "./spec.js";

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

const auxRatio = (d: number) =>
  num("adamwLrRatio", d, "AdamW learning rate of non-matrix leaves ÷ the method's");

export const matrix: OptimizerEntry[] = [
  {
    name: "muon",
    description:
      "Muon: orthogonalised momentum (Newton–Schulz) for hidden matrices, AdamW elsewhere",
    reference: "KellerJordan/Muon (reference script)",
    defaultLearningRate: 0.02,
    options: [
      num("momentum", 0.95, "momentum (EMA)"),
      bool("nesterov", true, "Nesterov blend"),
      num("nsSteps", 5, "Newton–Schulz iterations"),
      wd(0, "decoupled"),
      str(
        "scaling",
        "original",
        "original (sqrt(max(1, rows/cols))) or matchAdamW (0.2·sqrt(max dim))",
      ),
      auxRatio(0.15),
    ],
    create: (o) => optim.muon(route(o, 0.15) as optim.MuonOptions),
  },
  {
    name: "soap",
    description: "SOAP: Adam in the eigenbasis of Shampoo's preconditioners",
    reference: "nikhilvyas/SOAP (reference script)",
    defaultLearningRate: 3e-3,
    options: [
      b1(0.95),
      b2(0.95),
      eps(),
      wd(0.01, "decoupled"),
      num("precondFrequency", 10, "eigenbasis refresh period"),
      num("maxPrecondDim", 1024, "sides longer than this are not preconditioned"),
    ],
    create: (o) => optim.soap(route(o) as optim.SoapOptions),
  },
  {
    name: "shampoo",
    description: "Shampoo with Adam grafting",
    reference: "Gupta et al. 2018; Anil et al. 2020 (reference script)",
    defaultLearningRate: 3e-3,
    options: [
      b1(),
      b2(),
      num("precondFrequency", 10, "inverse-root refresh period"),
      str("graft", "adam", "adam, sgd or none"),
      num("matrixEps", 1e-6, "relative ridge"),
      wd(0, "decoupled"),
    ],
    create: (o) => optim.shampoo(route(o) as optim.ShampooOptions),
  },
  {
    name: "asgo",
    description: "ASGO: one-sided adaptive preconditioning",
    reference: "infinity-stars/ASGO (reference script)",
    defaultLearningRate: 1e-2,
    options: [
      num("momentum", 0.9, "momentum"),
      b2(0.8),
      eps(1e-10),
      wd(0.1, "decoupled"),
      auxRatio(0.3),
    ],
    create: (o) => optim.asgo(route(o, 0.3) as optim.AsgoOptions),
  },
  {
    name: "cosmos",
    description: "COSMOS: SOAP on the leading eigen-subspace, Muon on the rest",
    reference: "lliu606/COSMOS (reference script)",
    defaultLearningRate: 3e-3,
    options: [
      b1(),
      b2(),
      eps(),
      num("rank", 64, "eigen-subspace rank"),
      num("lrRatio", 0.1, "Muon part's rate ratio"),
      wd(0, "decoupled"),
    ],
    create: (o) => optim.cosmos(route(o) as optim.CosmosOptions),
  },
  {
    name: "psgd-kron",
    description: "PSGD with Kronecker-factored preconditioners",
    reference: "evanatyourservice/kron_torch (reference script)",
    defaultLearningRate: 1e-3,
    options: [
      b1(),
      num("precondLr", 0.1, "preconditioner step size"),
      num("precondUpdateProb", 1, "share of steps that update the preconditioner"),
      num("maxSizeTriangular", 8192, "longer sides get a diagonal factor"),
      wd(0, "decoupled"),
    ],
    create: (o) => optim.psgdKron(route(o) as optim.PsgdKronOptions),
  },
];
