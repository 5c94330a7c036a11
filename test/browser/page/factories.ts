/**
 * The optimizer of each golden-trajectory case, for the browser page: the same constructions as
 * the Node tests (test/optim/classic, adaptive, galore, matrix, psgd-kron), keyed by fixture
 * family and the case's `optimizer` (or `method`) field. A case the map lacks is an error, so
 * a fixture that grows a method fails here until the method is added.
 */
import type { numpy as np } from "@jax-js/jax";
import { numpy as jnp } from "@jax-js/jax";
import {
  adafactor,
  adagrad,
  adam,
  adamax,
  adamp,
  adamw,
  addDecayedWeights,
  ademamix,
  amsgrad,
  asgo,
  cautious,
  cautiousWeightDecay,
  chain,
  cosmos,
  diffgrad,
  fadam,
  fira,
  frugal,
  type GradientTransformation,
  galore,
  galore8bit,
  galoreAdafactor,
  grades,
  grams,
  grokfastEma,
  gwt,
  lion,
  mars,
  muon,
  nadam,
  novograd,
  powerSgd,
  psgdKron,
  qGalore,
  radam,
  rmsprop,
  scaleByAdam,
  scaleByLearningRate,
  scaleByLion,
  sgd,
  sgdp,
  shampoo,
  signSgd,
  signum,
  soap,
  spam,
  stableSpam,
} from "../../../src/browser.js";

/** One case, normalised over the fixture formats (adaptive fixtures share init and grads). */
export interface ReplayCase {
  family: "classic" | "adaptive" | "galore" | "matrix" | "psgd";
  name: string;
  optimizer: string;
  options: Record<string, any>;
  shapes: Record<string, number[]>;
  init: Record<string, number[]>;
  grads: Record<string, number[]>[];
  /** GaLore's PowerSGD case: the reference's starting Q. */
  q0?: number[];
  learningRate?: number;
  /** Matrix optimizers: also return every step's update. */
  withUpdates?: boolean;
}

type Factory = (o: Record<string, any>) => GradientTransformation<any>;

const CLASSIC: Record<string, Factory> = {
  sgd: (o) => sgd(o as any),
  adam,
  adamw,
  amsgrad,
  rmsprop,
  adagrad,
  adamax,
  nadam,
  radam,
  adafactor,
  lion,
  signum: (o) => signum(o as any),
  signSgd: (o) => signSgd(o as any),
  novograd,
};

/** As test/optim/adaptive.test.ts (SPAM's `theta` renamed to `spikeThreshold` there too). */
const ADAPTIVE: Record<string, Factory> = {
  stableSpam: (o) => stableSpam(o),
  spam: ({ theta, ...o }) => spam(theta === undefined ? o : { ...o, spikeThreshold: theta }),
  ademamix: (o) => ademamix(o),
  grams: (o) => grams(o),
  fadam: (o) => fadam(o),
  diffgrad: (o) => diffgrad(o),
  adamp: (o) => adamp(o),
  sgdp: (o) => sgdp(o as any),
  mars: (o) => mars(o),
  "grokfast+adamw": (o) => chain(grokfastEma(o.grokfast), adamw(o.inner)),
  "grades+adamw": (o) =>
    grades(adamw(o.inner), {
      ...o.grades,
      watch: o.grades.watch === "all" ? () => true : undefined,
    }),
  "cautious-direction+adam": (o) =>
    chain(
      cautious(scaleByAdam(), { output: "direction" }),
      addDecayedWeights(o.weightDecay),
      scaleByLearningRate(o.learningRate),
    ),
  "cautious+adamw": (o) => cautious(adamw(o)),
  "cautious+lion": (o) => cautious(lion(o)),
  "cautious+sgd": (o) => cautious(sgd(o as any)),
  "cwd+adam": (o) =>
    chain(scaleByAdam(), cautiousWeightDecay(o.weightDecay), scaleByLearningRate(o.learningRate)),
  "cwd+lion": (o) =>
    chain(
      scaleByLion(o.b1, o.b2),
      cautiousWeightDecay(o.weightDecay),
      scaleByLearningRate(o.learningRate),
    ),
};

const GALORE: Record<string, (c: ReplayCase) => GradientTransformation<any>> = {
  galore: (c) => galore(c.options),
  galore8bit: (c) => galore8bit(c.options),
  galoreAdafactor: (c) => galoreAdafactor(c.options),
  fira: (c) => fira(c.options),
  frugal: (c) => frugal(c.options),
  qGalore: (c) => qGalore(c.options),
  gwt: (c) => gwt(c.options),
  powerSgd: (c) => chain(powerSgd(c.options), sgd({ learningRate: c.learningRate! })),
};

const MATRIX: Record<string, Factory> = { muon, soap, shampoo, asgo, cosmos };

const pick = <T>(table: Record<string, T>, c: ReplayCase): T => {
  const f = table[c.optimizer];
  if (f === undefined) throw new Error(`no browser factory for ${c.family} ${c.optimizer}`);
  return f;
};

export const FACTORIES: Record<
  ReplayCase["family"],
  (c: ReplayCase) => GradientTransformation<any>
> = {
  classic: (c) => pick(CLASSIC, c)(c.options),
  adaptive: (c) => pick(ADAPTIVE, c)(c.options),
  galore: (c) => pick(GALORE, c)(c),
  matrix: (c) => pick(MATRIX, c)(c.options),
  psgd: (c) => psgdKron(c.options),
};

/** The names each family covers, for the Node side's coverage check. */
export const COVERED: Record<ReplayCase["family"], string[]> = {
  classic: Object.keys(CLASSIC),
  adaptive: Object.keys(ADAPTIVE),
  galore: Object.keys(GALORE),
  matrix: Object.keys(MATRIX),
  psgd: ["psgdKron"],
};

/** PowerSGD starts from the reference's Q (its random start is the only unseeded part). */
export function prepareState(c: ReplayCase, state: any): any {
  if (c.q0 === undefined) return state;
  const leaf = state[0].leaves.w;
  (leaf.q as np.Array).dispose();
  leaf.q = jnp.array(Float32Array.from(c.q0), {
    shape: [c.shapes.w[1], c.q0.length / c.shapes.w[1]],
  });
  return state;
}
