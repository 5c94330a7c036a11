/**
 * GaLore family: state size (the formula of the issue, and nothing full-size kept), no leaked
 * arrays over 20 steps (with refreshes), option validation.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { stateBytes } from "../../src/engine/tree.js";
import { chain, type GradientTransformation } from "../../src/optim/core.js";
import { fira } from "../../src/optim/optimizers/fira.js";
import { frugal } from "../../src/optim/optimizers/frugal.js";
import { galore } from "../../src/optim/optimizers/galore.js";
import { galore8bit } from "../../src/optim/optimizers/galore-8bit.js";
import { galoreAdafactor } from "../../src/optim/optimizers/galore-adafactor.js";
import { gwt } from "../../src/optim/optimizers/gwt.js";
import { qGalore } from "../../src/optim/optimizers/q-galore.js";
import { sgd } from "../../src/optim/optimizers/sgd.js";
import { powerSgd } from "../../src/optim/transforms/powersgd.js";
import { setup } from "../helpers/engine.js";
import { expectNoLeaks } from "../helpers/leaks.js";

beforeAll(setup);

const matrix = (m: number, n: number, salt = 0) =>
  np.array(
    Float32Array.from(
      { length: m * n },
      (_, i) => Math.sin(0.37 * i + salt) + 0.1 * Math.cos(i * i),
    ),
    { shape: [m, n] },
  );

describe("stateBytes", () => {
  // The formula for an m × n matrix at rank r: 4·(2·r·max(m, n) + r·min(m, n)).
  test.each([
    [64, 24, 4],
    [24, 64, 4],
    [40, 40, 8],
    [16, 48, 8],
  ])("galore std, %i × %i at rank %i", (m, n, r) => {
    const opt = galore({ rank: r, updateProjGap: 2, learningRate: 1e-2 });
    let state = opt.init({ w: matrix(m, n) });
    expect(stateBytes(state)).toBe(4 * (2 * r * Math.max(m, n) + r * Math.min(m, n)));
    // Still so after refreshes, and no array as large as the matrix is kept.
    for (let step = 0; step < 3; step++) {
      const [u, next] = opt.update({ w: matrix(m, n, step) }, state, { w: matrix(m, n) });
      tree.dispose(u);
      state = next;
    }
    expect(stateBytes(state)).toBe(4 * (2 * r * Math.max(m, n) + r * Math.min(m, n)));
    const largest = Math.max(
      ...tree
        .leaves(state as tree.Tree<unknown>)
        .filter(tree.isArray)
        .map((a) => a.size),
    );
    expect(largest).toBeLessThan(m * n);
    tree.dispose(state);
  });

  test("other projTypes and the AdamW fallback", () => {
    const [m, n, r] = [30, 20, 3];
    const bytes = (projType: any) => {
      const state = galore({ rank: r, projType }).init({ w: matrix(m, n), b: np.zeros([n]) });
      const b = stateBytes(state);
      tree.dispose(state);
      return b;
    };
    const adamwBias = 4 * 2 * n;
    expect(bytes("std")).toBe(4 * (2 * r * m + r * n) + adamwBias);
    expect(bytes("right")).toBe(4 * (2 * r * m + r * n) + adamwBias);
    expect(bytes("reverse_std")).toBe(4 * (2 * r * n + r * m) + adamwBias);
    expect(bytes("left")).toBe(4 * (2 * r * n + r * m) + adamwBias);
    expect(bytes("full")).toBe(4 * (2 * r * r + r * (m + n)) + adamwBias);
  });

  test("compact projectors and storage", () => {
    const [m, n, r] = [64, 32, 4];
    const bytesOf = (opt: GradientTransformation<any>) => {
      const state = opt.init({ w: matrix(m, n) });
      const b = stateBytes(state);
      tree.dispose(state);
      return b;
    };
    const moments = 4 * 2 * r * m;
    // DCT keeps r int32 indices; Grass r indices + r weights.
    expect(bytesOf(galore({ rank: r, projector: "dct" }))).toBe(moments + 4 * r);
    expect(bytesOf(galore({ rank: r, projector: "grass" }))).toBe(moments + 8 * r);
    // Q-GaLore: INT4 codes (r·n/2 bytes), a scale and a zero per group of 64, the previous
    // first vector (n floats); float32 moments here.
    const q = qGalore({ rank: r, projGroupSize: 64, moments: "float32" });
    expect(bytesOf(q)).toBe(moments + (r * n) / 2 + 8 * ((r * n) / 64) + 4 * n);
    // 8-bit moments: one byte per entry plus a float32 scale per block of 64.
    const eight = galore8bit({ rank: r, blockSize: 64, minQuantizedSize: 0 });
    expect(bytesOf(eight)).toBe(2 * (r * m + 4 * ((r * m) / 64)) + 4 * r * n);
    // GWT: moments of the approximation only (n / 2^levels columns).
    expect(bytesOf(gwt({ levels: 2 }))).toBe(4 * 2 * m * (n / 4));
  });
});

const STEPS = 20;

const optimizers: [string, () => GradientTransformation<any>][] = [
  [
    "galore (svd, std, weight decay)",
    () => galore({ rank: 3, updateProjGap: 4, weightDecay: 0.1 }),
  ],
  ["galore (full)", () => galore({ rank: 2, updateProjGap: 5, projType: "full" })],
  [
    "galore (randomized_svd)",
    () => galore({ rank: 3, updateProjGap: 4, projector: "randomized_svd" }),
  ],
  ["galore (random)", () => galore({ rank: 3, updateProjGap: 4, projector: "random" })],
  ["galore (dct)", () => galore({ rank: 3, updateProjGap: 4, projector: "dct" })],
  ["galore (online_pca)", () => galore({ rank: 3, updateProjGap: 4, projector: "online_pca" })],
  ["galore (grass)", () => galore({ rank: 3, updateProjGap: 4, projector: "grass" })],
  [
    "galore8bit",
    () => galore8bit({ rank: 3, updateProjGap: 4, minQuantizedSize: 0, blockSize: 8 }),
  ],
  [
    "galoreAdafactor",
    () => galoreAdafactor({ rank: 3, updateProjGap: 4, b1: 0.9, weightDecay: 0.1 }),
  ],
  ["qGalore", () => qGalore({ rank: 3, updateProjGap: 2, projGroupSize: 8, momentBlockSize: 8 })],
  ["fira", () => fira({ rank: 3, updateProjGap: 4, weightDecay: 0.1 })],
  ["frugal", () => frugal({ rank: 3, updateProjGap: 4, weightDecay: 0.1 })],
  [
    "frugal (blocks)",
    () => frugal({ mode: "blocks", density: 0.5, updateProjGap: 3, blockOrder: "random" }),
  ],
  ["gwt", () => gwt({ levels: 2, weightDecay: 0.1 })],
  ["powerSgd", () => chain(powerSgd({ rank: 2 }), sgd({ learningRate: 0.01 }))],
];

describe("no leaks", () => {
  test.each(optimizers)("%s: 20 steps leave only params and state alive", async (_name, make) => {
    await expectNoLeaks({
      make,
      params: () => ({ w: matrix(12, 8), v: matrix(8, 12, 1), b: np.zeros([8]) }),
      grads: (step) => ({ w: matrix(12, 8, step), v: matrix(8, 12, step + 7), b: np.ones([8]) }),
      steps: STEPS,
      warmup: 1,
    });
  });
});

describe("options", () => {
  test.each([
    ["galore({ rank: 0 })", () => galore({ rank: 0 }), RangeError, /rank/],
    ["galore({ rank: 2.5 })", () => galore({ rank: 2.5 }), RangeError, /rank/],
    [
      "galore({ updateProjGap: 0 })",
      () => galore({ updateProjGap: 0 }),
      RangeError,
      /updateProjGap/,
    ],
    ["galore({ scale: -1 })", () => galore({ scale: -1 }), RangeError, /scale/],
    [
      'galore({ projType: "diagonal" as any })',
      () => galore({ projType: "diagonal" as any }),
      RangeError,
      /projType must be one of std/,
    ],
    [
      'galore({ projector: "pca" as any })',
      () => galore({ projector: "pca" as any }),
      RangeError,
      /projector must be one of svd/,
    ],
    [
      "galore({ projector: {} as any })",
      () => galore({ projector: {} as any }),
      TypeError,
      /projector/,
    ],
    ["galore({ b1: 1 })", () => galore({ b1: 1 }), RangeError, /b1/],
    ["galore({ eps: -1 })", () => galore({ eps: -1 }), RangeError, /eps/],
    [
      "galore({ weightDecay: -0.1 })",
      () => galore({ weightDecay: -0.1 }),
      RangeError,
      /weightDecay/,
    ],
    [
      "galore({ beta1: 0.9 } as any)",
      () => galore({ beta1: 0.9 } as any),
      TypeError,
      /unknown option "beta1"/,
    ],
    ['fira({ projType: "full" })', () => fira({ projType: "full" }), RangeError, /projType/],
    [
      "fira({ normGrowthLimit: 0.5 })",
      () => fira({ normGrowthLimit: 0.5 }),
      RangeError,
      /normGrowthLimit/,
    ],
    [
      "galoreAdafactor({ learningRate: 0.1, relativeStep: true })",
      () => galoreAdafactor({ learningRate: 0.1, relativeStep: true }),
      RangeError,
      /relativeStep/,
    ],
    [
      "galoreAdafactor({ eps: 1e-8 } as any)",
      () => galoreAdafactor({ eps: 1e-8 } as any),
      TypeError,
      /unknown option "eps"/,
    ],
    ["galore8bit({ blockSize: 2 })", () => galore8bit({ blockSize: 2 }), RangeError, /blockSize/],
    ["qGalore({ projBits: 3 })", () => qGalore({ projBits: 3 }), RangeError, /bits/],
    [
      "qGalore({ projGroupSize: 12 })",
      () => qGalore({ projGroupSize: 12 }),
      RangeError,
      /groupSize/,
    ],
    [
      "qGalore({ cosThreshold: 2 })",
      () => qGalore({ cosThreshold: 2 }),
      RangeError,
      /cosThreshold/,
    ],
    [
      'qGalore({ moments: "int4" as any })',
      () => qGalore({ moments: "int4" as any }),
      RangeError,
      /moments/,
    ],
    [
      'frugal({ stateFree: "adam" as any })',
      () => frugal({ stateFree: "adam" as any }),
      RangeError,
      /stateFree/,
    ],
    ["frugal({ density: 0 })", () => frugal({ density: 0 }), RangeError, /density/],
    [
      'frugal({ mode: "layers" as any })',
      () => frugal({ mode: "layers" as any }),
      RangeError,
      /mode/,
    ],
    ["gwt({ levels: 0 })", () => gwt({ levels: 0 }), RangeError, /levels/],
    ["powerSgd({ rank: 0 })", () => powerSgd({ rank: 0 }), RangeError, /rank/],
  ] as const)("%s", (_label, make, type, message) => {
    expect(make).toThrow(type);
    expect(make).toThrow(message);
  });

  test("gwt rejects a leaf whose width 2^levels does not divide", () => {
    const params = { w: matrix(4, 6) };
    expect(() => gwt({ levels: 2 }).init(params)).toThrow(/divisible by 2\^levels = 4/);
  });
});
