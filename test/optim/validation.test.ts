/**
 * Invalid options of the classic optimizers throw a RangeError/TypeError whose one-line message
 * names the option; the same factories accept valid options (so the checks are not vacuous).
 * The rules follow the references: torch.optim's argument checks (negative learning rate, betas
 * outside [0, 1), negative eps/momentum/weight decay, Nesterov without momentum or with
 * dampening), transformers' Adafactor (learningRate with relativeStep, warmupInit without
 * relativeStep), lion_pytorch's betas in [0, 1).
 */
import { describe, expect, test } from "vitest";
import {
  adafactor,
  adagrad,
  adam,
  adamax,
  adamw,
  amsgrad,
  lion,
  nadam,
  novograd,
  radam,
  rmsprop,
  sgd,
  signSgd,
  signum,
} from "../../src/index.js";

type Factory = (options?: any) => unknown;

const factories: Record<string, Factory> = {
  sgd: sgd as Factory,
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
  signum: signum as Factory,
  signSgd: signSgd as Factory,
  novograd: novograd as Factory,
};

/** Valid options for each factory; each invalid case changes one or two of them. */
const valid: Record<string, Record<string, unknown>> = {
  sgd: { learningRate: 0.1, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 0.01 },
  adam: { learningRate: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, weightDecay: 0.01, amsgrad: false },
  adamw: { learningRate: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, weightDecay: 0.01, amsgrad: true },
  amsgrad: { learningRate: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, weightDecay: 0 },
  rmsprop: {
    learningRate: 1e-2,
    decay: 0.99,
    eps: 1e-8,
    momentum: 0.9,
    centered: true,
    weightDecay: 0.01,
  },
  adagrad: {
    learningRate: 1e-2,
    lrDecay: 0.01,
    weightDecay: 0.01,
    initialAccumulatorValue: 0.1,
    eps: 1e-10,
  },
  adamax: { learningRate: 2e-3, b1: 0.9, b2: 0.999, eps: 1e-8, weightDecay: 0.01 },
  nadam: {
    learningRate: 2e-3,
    b1: 0.9,
    b2: 0.999,
    eps: 1e-8,
    weightDecay: 0.01,
    momentumDecay: 4e-3,
  },
  radam: { learningRate: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, weightDecay: 0.01 },
  adafactor: {
    learningRate: 1e-2,
    relativeStep: false,
    eps1: 1e-30,
    eps2: 1e-3,
    clipThreshold: 1,
    decayRate: -0.8,
    b1: 0.9,
    weightDecay: 0.01,
    scaleParameter: true,
    warmupInit: false,
  },
  lion: { learningRate: 1e-4, b1: 0.9, b2: 0.99, weightDecay: 0.01 },
  signum: { learningRate: 1e-2, momentum: 0.9, weightDecay: 0.01 },
  signSgd: { learningRate: 1e-2 },
  novograd: {
    learningRate: 1e-2,
    b1: 0.95,
    b2: 0.98,
    eps: 1e-8,
    weightDecay: 0.01,
    gradAveraging: true,
  },
};

/** [factory, changes to its valid options, the option the error must name]. */
const invalid: [string, Record<string, unknown>, string][] = [
  ["sgd", { learningRate: -0.1 }, "learningRate"],
  ["sgd", { learningRate: Number.NaN }, "learningRate"],
  ["sgd", { learningRate: "0.1" }, "learningRate"],
  ["sgd", { learningRate: undefined }, "learningRate"], // torch: lr is required
  ["sgd", { momentum: -0.5 }, "momentum"],
  ["sgd", { weightDecay: -1e-4 }, "weightDecay"],
  ["sgd", { nesterov: true, momentum: 0 }, "nesterov"],
  ["sgd", { nesterov: true, dampening: 0.1 }, "nesterov"],
  ["adam", { learningRate: -1e-3 }, "learningRate"],
  ["adam", { b1: 1 }, "b1"],
  ["adam", { b1: 1.5 }, "b1"],
  ["adam", { b1: -0.1 }, "b1"],
  ["adam", { b2: 1 }, "b2"],
  ["adam", { b2: -0.5 }, "b2"],
  ["adam", { eps: -1e-8 }, "eps"],
  ["adam", { weightDecay: -0.01 }, "weightDecay"],
  ["adam", { amsgrad: "yes" }, "amsgrad"],
  ["adam", { beta1: 0.9 }, "beta1"], // unknown (misspelt) option
  ["adamw", { learningRate: -1 }, "learningRate"],
  ["adamw", { b1: 1 }, "b1"],
  ["adamw", { b2: 1.2 }, "b2"],
  ["adamw", { eps: -1 }, "eps"],
  ["adamw", { weightDecay: -0.1 }, "weightDecay"],
  ["amsgrad", { learningRate: -1 }, "learningRate"],
  ["amsgrad", { b2: 1 }, "b2"],
  ["rmsprop", { learningRate: -0.01 }, "learningRate"],
  ["rmsprop", { decay: -0.1 }, "decay"],
  ["rmsprop", { eps: -1e-8 }, "eps"],
  ["rmsprop", { momentum: -0.9 }, "momentum"],
  ["rmsprop", { weightDecay: -0.01 }, "weightDecay"],
  ["adagrad", { learningRate: -0.01 }, "learningRate"],
  ["adagrad", { lrDecay: -0.1 }, "lrDecay"],
  ["adagrad", { weightDecay: -0.1 }, "weightDecay"],
  ["adagrad", { initialAccumulatorValue: -0.5 }, "initialAccumulatorValue"],
  ["adagrad", { eps: -1e-10 }, "eps"],
  ["adamax", { learningRate: -1 }, "learningRate"],
  ["adamax", { b1: 1 }, "b1"],
  ["adamax", { b2: 1 }, "b2"],
  ["adamax", { eps: -1 }, "eps"],
  ["adamax", { weightDecay: -1 }, "weightDecay"],
  ["nadam", { learningRate: -1 }, "learningRate"],
  ["nadam", { b1: 1 }, "b1"],
  ["nadam", { b2: -0.1 }, "b2"],
  ["nadam", { eps: -1 }, "eps"],
  ["nadam", { weightDecay: -1 }, "weightDecay"],
  ["nadam", { momentumDecay: -4e-3 }, "momentumDecay"],
  ["radam", { learningRate: -1 }, "learningRate"],
  ["radam", { b1: 1 }, "b1"],
  ["radam", { b2: 1 }, "b2"],
  ["radam", { eps: -1 }, "eps"],
  ["radam", { weightDecay: -1 }, "weightDecay"],
  ["adafactor", { learningRate: -0.1 }, "learningRate"],
  ["adafactor", { learningRate: undefined }, "learningRate"], // relativeStep: false needs one
  ["adafactor", { relativeStep: true }, "learningRate"], // transformers: cannot combine the two
  ["adafactor", { warmupInit: true }, "warmupInit"], // transformers: needs relativeStep
  ["adafactor", { eps1: -1 }, "eps1"],
  ["adafactor", { eps2: -1 }, "eps2"],
  ["adafactor", { clipThreshold: -1 }, "clipThreshold"],
  ["adafactor", { decayRate: 0.5 }, "decayRate"], // β2ₜ = 1 − t^0.5 < 0
  ["adafactor", { b1: 1 }, "b1"],
  ["adafactor", { weightDecay: -0.1 }, "weightDecay"],
  ["lion", { learningRate: -1e-4 }, "learningRate"],
  ["lion", { b1: 1 }, "b1"],
  ["lion", { b1: -0.1 }, "b1"],
  ["lion", { b2: 1 }, "b2"],
  ["lion", { weightDecay: -1 }, "weightDecay"],
  ["signum", { learningRate: -0.01 }, "learningRate"],
  ["signum", { momentum: -0.1 }, "momentum"],
  ["signum", { momentum: 1 }, "momentum"],
  ["signum", { weightDecay: -1 }, "weightDecay"],
  ["signSgd", { learningRate: -0.01 }, "learningRate"],
  ["signSgd", { learningRate: undefined }, "learningRate"],
  ["novograd", { learningRate: -1 }, "learningRate"],
  ["novograd", { b1: 1 }, "b1"],
  ["novograd", { b2: 1 }, "b2"],
  ["novograd", { eps: -1 }, "eps"],
  ["novograd", { weightDecay: -1 }, "weightDecay"],
];

function thrown(make: () => unknown): unknown {
  try {
    make();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("valid options are accepted", () => {
  test.each(Object.keys(valid))("%s", (name) => {
    expect(thrown(() => factories[name](valid[name]))).toBeUndefined();
  });

  test("defaults, and a learning-rate schedule", () => {
    for (const name of ["adam", "adamw", "amsgrad", "rmsprop", "adagrad", "adamax"]) {
      expect(
        thrown(() => factories[name]()),
        name,
      ).toBeUndefined();
    }
    for (const name of ["nadam", "radam", "adafactor", "lion"]) {
      expect(
        thrown(() => factories[name]({})),
        name,
      ).toBeUndefined();
    }
    expect(thrown(() => sgd({ learningRate: (t: number) => 0.1 / (1 + t) }))).toBeUndefined();
    expect(thrown(() => adam({ learningRate: (t: number) => 1e-3 * 0.9 ** t }))).toBeUndefined();
  });
});

const label = ([name, change, option]: [string, Record<string, unknown>, string]) =>
  `${name}(${Object.entries(change)
    .map(([k, v]) => `${k}: ${typeof v === "string" ? JSON.stringify(v) : String(v)}`)
    .join(", ")}) names ${option}`;

describe("invalid options throw an error naming the option", () => {
  test.each(invalid.map((c) => [label(c), ...c] as const))("%s", (_label, name, change, option) => {
    const options = { ...valid[name], ...change };
    for (const [k, v] of Object.entries(change)) if (v === undefined) delete options[k];
    const error = thrown(() => factories[name](options));
    expect(error, "no error thrown").toBeInstanceOf(Error);
    expect(error instanceof RangeError || error instanceof TypeError, String(error)).toBe(true);
    const message = (error as Error).message;
    expect(message).toMatch(new RegExp(`\\b${option}\\b`));
    expect(message).not.toContain("\n");
  });
});
