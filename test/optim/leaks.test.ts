/**
 * 100 steps of each classic optimizer leave no arrays alive beyond the parameters and the state:
 * the live-buffer count does not grow after the first step, it never exceeds one buffer per array
 * leaf of params + state, and disposing params and state brings it back to where it started.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, test } from "vitest";
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
import { setup } from "../helpers/engine.js";
import { expectNoLeaks } from "../helpers/leaks.js";
import type { Optimizer } from "../helpers/trajectory.js";

const STEPS = 100;

/** Every option that adds state or a branch is switched on somewhere. */
const optimizers: [string, () => Optimizer][] = [
  ["sgd", () => sgd({ learningRate: 0.01 })],
  [
    "sgd (momentum, nesterov, weight decay, schedule)",
    () =>
      sgd({
        learningRate: (t: number) => 0.01 / (1 + t),
        momentum: 0.9,
        nesterov: true,
        weightDecay: 1e-2,
      }),
  ],
  [
    "adam (weight decay, amsgrad)",
    () => adam({ learningRate: 1e-2, weightDecay: 0.1, amsgrad: true }),
  ],
  ["adam", () => adam()],
  ["adamw", () => adamw({ learningRate: 1e-2 })],
  ["amsgrad", () => amsgrad({ learningRate: 1e-2 })],
  [
    "rmsprop (centered, momentum, weight decay)",
    () => rmsprop({ centered: true, momentum: 0.9, weightDecay: 0.1 }),
  ],
  ["rmsprop", () => rmsprop()],
  [
    "adagrad (lrDecay, weight decay, initial accumulator)",
    () => adagrad({ lrDecay: 0.01, weightDecay: 0.1, initialAccumulatorValue: 0.1 }),
  ],
  ["adamax", () => adamax({ weightDecay: 0.1 })],
  ["nadam", () => nadam({ weightDecay: 0.1 })],
  ["radam", () => radam({ weightDecay: 0.1 })],
  ["adafactor", () => adafactor()],
  [
    "adafactor (lr, b1, weight decay)",
    () => adafactor({ learningRate: 1e-2, relativeStep: false, b1: 0.9, weightDecay: 0.1 }),
  ],
  ["lion", () => lion({ weightDecay: 0.1 })],
  ["signum", () => signum({ learningRate: 1e-2, weightDecay: 0.1 })],
  ["signSgd", () => signSgd({ learningRate: 1e-2 })],
  ["novograd", () => novograd({ learningRate: 1e-2, weightDecay: 0.1, gradAveraging: true })],
];

const SHAPES = { w: [4, 3], b: [3] };

/** Deterministic gradient values for one step. */
function gradients(step: number) {
  const fill = (n: number, salt: number) =>
    Float32Array.from({ length: n }, (_, i) => Math.sin(1.7 * step + 0.9 * i + salt));
  return {
    w: np.array(fill(12, 0), { shape: SHAPES.w }),
    b: np.array(fill(3, 5), { shape: SHAPES.b }),
  };
}

beforeAll(setup);

const params = () => ({
  w: np.array(
    Float32Array.from({ length: 12 }, (_, i) => 0.1 * (i - 6)),
    { shape: SHAPES.w },
  ),
  b: np.array(new Float32Array([0.5, -0.25, 0.125]), { shape: SHAPES.b }),
});

test.each(optimizers)("%s: 100 steps leave only params and state alive", async (_name, make) => {
  await expectNoLeaks({ make, params, grads: gradients, steps: STEPS });
});
