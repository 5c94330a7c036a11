/**
 * Q-GaLore's INT8 weights stored in INT8 (issue 17): with weightBits 8 the optimizer state holds
 * each projected matrix as packed 8-bit codes (uint32 words, 1 byte per entry) with a float32
 * scale and zero point per group, and stateBytes grows by exactly that over weightBits 0; from the
 * same weights and seed, the master's values are the float32-on-grid path's (transforms/
 * int8-weights.ts `requantize` applied to p + GaLore's update) bit for bit, step after step, with
 * stochastic rounding and with rounding to nearest.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { qGalore } from "../../src/optim/optimizers/q-galore.js";
import { drawKey, leafSeed } from "../../src/optim/projection/projector.js";
import { dequantizeInt8, type Int8Weight } from "../../src/optim/transforms/int8-master.js";
import { requantize } from "../../src/optim/transforms/int8-weights.js";
import { read, setup } from "../helpers/engine.js";

beforeAll(setup);

const fill = (shape: number[], salt: number) =>
  np.array(
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) =>
      Math.sin(0.3 * i + salt),
    ),
    { shape },
  );
const SEED = 7;
const options = (weightBits: number, groupSize: number, stochasticRound = true) => ({
  rank: 2,
  updateProjGap: 2,
  projGroupSize: 8,
  momentBlockSize: 8,
  weightBits,
  weightGroupSize: groupSize,
  stochasticRound,
  seed: SEED,
  learningRate: 0.01,
  weightDecay: 0.1,
});

/** The INT8 master of leaf `w` inside a Q-GaLore state (borrowed). */
function master(state: unknown): Int8Weight {
  const found: Record<string, np.Array> = {};
  tree.walk(state as tree.Tree<unknown>, (leaf, path) => {
    const m = /(^|\.)weights\.w\.(codes|scales|zeros)$/.exec(path);
    if (m && tree.isArray(leaf)) found[m[2]] = leaf;
  });
  expect(Object.keys(found).sort()).toEqual(["codes", "scales", "zeros"]);
  return found as unknown as Int8Weight;
}

test.each([
  ["16 × 8, groups of 32", [16, 8], 32, 128, 4],
  ["5 × 7, groups of 16 (the last padded)", [5, 7], 16, 48, 3],
])(
  "%s: codes are uint32 words, 1 byte per entry; stateBytes shows it",
  (_n, shape, group, padded, groups) => {
    const params = () => ({ w: fill(shape, 1), b: fill([8], 2) });
    const int8 = qGalore(options(8, group)).init(params());
    const float = qGalore(options(0, group)).init(params());
    const m = master(int8);
    expect(m.codes.dtype).toBe("uint32");
    expect(m.codes.size * 4).toBe(padded);
    expect([m.scales.dtype, m.zeros.dtype, m.scales.size, m.zeros.size]).toEqual([
      "float32",
      "float32",
      groups,
      groups,
    ]);
    expect(tree.stateBytes(int8) - tree.stateBytes(float)).toBe(padded + 8 * groups);
    tree.dispose([int8, float]);
  },
);

test.each([
  ["stochastic rounding", true],
  ["rounding to nearest", false],
])("%s: the master's values are the float32-on-grid path's, bit for bit", (_n, stochastic) => {
  const shape = [16, 8];
  const group = 32;
  const withMaster = qGalore(options(8, group, stochastic));
  const galoreOnly = qGalore(options(0, group, stochastic)); // the same GaLore, no weights
  const start = fill(shape, 1);
  let a = withMaster.init({ w: start.ref, b: fill([8], 2) });
  // Init quantizes the start to nearest: requantize without a key.
  let p = dequantizeInt8(master(a), shape);
  expect(read(p)).toEqual(read(requantize(start, group, null)));
  let b = galoreOnly.init({ w: p.ref, b: fill([8], 2) });
  let bias = fill([8], 2);
  for (let step = 0; step < 6; step++) {
    const grads = () => ({ w: fill(shape, 10 + step), b: fill([8], 20 + step) });
    const [u, nextA] = withMaster.update(grads(), a, { w: p.ref, b: bias.ref });
    const [v, nextB] = galoreOnly.update(grads(), b, { w: p.ref, b: bias.ref });
    a = nextA;
    b = nextB;
    // The float path: p + GaLore's update re-quantised with the key of (seed, leaf 0, step).
    const key = stochastic ? drawKey(leafSeed(SEED, 0), step) : null;
    const expected = requantize(p.ref.add((v as any).w), group, key);
    const stored = dequantizeInt8(master(a), shape);
    expect(read(stored)).toEqual(read(expected.ref));
    expect(read((u as any).w)).toEqual(read(expected.ref.sub(p.ref)));
    expect(read((u as any).b)).toEqual(read((v as any).b));
    bias = bias.add((v as any).b);
    tree.dispose([(u as any).b, stored]);
    p.dispose();
    p = expected;
  }
  tree.dispose([a, b, p, bias]);
});
