/**
 * Q-GaLore's INT8 weights (issue 17): re-quantisation with stochastic rounding is unbiased (the
 * mean over seeds converges to w within the binomial bound), every result lies on its group's
 * 8-bit grid within one step s of w; rounding to nearest errs by ≤ s/2 and matches a host
 * computation of the authors' formulas; Q-GaLore with weightBits 8 keeps its matrices on the grid,
 * resumes bit for bit and leaks nothing.
 */
import { numpy as np, random } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { applyUpdates } from "../../src/optim/core.js";
import { qGalore } from "../../src/optim/optimizers/q-galore.js";
import { requantize } from "../../src/optim/transforms/int8-weights.js";
import { read, setup } from "../helpers/engine.js";
import { expectNoLeaks } from "../helpers/leaks.js";
import { expectExactResume } from "../helpers/optimizer-checks.js";

beforeAll(setup);

const G = 32;
const w = Float32Array.from({ length: 2 * G }, (_, i) => Math.sin(1.7 * i) * (i < G ? 1 : 0.01));

/** The authors' grid of each group, on the host: scale s and zero z (float32 like the device). */
function grids(values: Float32Array) {
  const out: { s: number; z: number }[] = [];
  for (let g = 0; g < values.length / G; g++) {
    const part = values.subarray(g * G, (g + 1) * G);
    const [lo, hi] = [Math.min(...part), Math.max(...part)];
    const s = Math.fround(Math.max(Math.fround(hi - lo), 1e-5) / 255);
    const y = Math.fround(lo / s);
    const r = Math.abs(y % 1) === 0.5 ? 2 * Math.round(y / 2) : Math.round(y); // half to even
    out.push({ s, z: Math.min(255, Math.max(0, -r)) });
  }
  return out;
}

describe("requantize", () => {
  const g = grids(w);

  test("stochastic rounding is unbiased; each draw is on the grid within one step", () => {
    const draws = 200;
    const sum = new Float64Array(w.length);
    for (let d = 0; d < draws; d++) {
      const r = read(requantize(np.array(w), G, random.key(d)));
      r.forEach((x, i) => {
        const { s, z } = g[Math.floor(i / G)];
        const code = x / s + z;
        expect(Math.abs(code - Math.round(code))).toBeLessThan(1e-3);
        expect(Math.round(code)).toBeGreaterThanOrEqual(0);
        expect(Math.round(code)).toBeLessThanOrEqual(255);
        expect(Math.abs(x - w[i])).toBeLessThan(s * (1 + 1e-4));
        sum[i] += x;
      });
    }
    w.forEach((x, i) => {
      const { s, z } = g[Math.floor(i / G)];
      const code = x / s + z;
      if (code < 1 || code > 254) return; // the clip at the ends of the grid may bias
      // Bernoulli rounding: variance ≤ s²/4 per draw; 5 standard errors.
      expect(Math.abs(sum[i] / draws - x)).toBeLessThan((5 * s) / (2 * Math.sqrt(draws)));
    });
  });

  test("rounding to nearest: the authors' formulas, error ≤ s/2", () => {
    const r = read(requantize(np.array(w), G, null));
    r.forEach((x, i) => {
      const { s, z } = g[Math.floor(i / G)];
      const y = Math.fround(w[i] / s);
      const q = Math.min(255, Math.max(0, Math.round(y) + z)); // no exact .5 ties in this data
      expect(x).toBeCloseTo((q - z) * s, 6);
      expect(Math.abs(x - w[i])).toBeLessThanOrEqual((s / 2) * (1 + 1e-4));
    });
  });

  test("a short last group is padded with its last entry", () => {
    const short = w.slice(0, G + 5);
    const r = read(requantize(np.array(short), G, null));
    expect(r.length).toBe(G + 5);
    const tail = short.subarray(G);
    const s = Math.fround(Math.max(...tail) - Math.min(...tail)) / 255;
    const worst = Math.max(...Array.from(r.subarray(G), (x, i) => Math.abs(x - tail[i])));
    expect(worst).toBeLessThanOrEqual(s);
  });
});

describe("Q-GaLore with INT8 weights", () => {
  const fill = (shape: number[], salt: number) =>
    np.array(
      Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) =>
        Math.sin(0.3 * i + salt),
      ),
      { shape },
    );
  const start = () => ({ w: fill([16, 8], 1), b: fill([8], 2) });
  const gradsAt = (step: number) => ({ w: fill([16, 8], 10 + step), b: fill([8], 20 + step) });
  const make = (seed = 0) =>
    qGalore({
      rank: 2,
      updateProjGap: 2,
      projGroupSize: 8,
      momentBlockSize: 8,
      weightBits: 8,
      weightGroupSize: 32,
      seed,
      learningRate: 0.01,
    });

  const run = (opt: ReturnType<typeof make>, steps: number) => {
    let p: any = start();
    let s = opt.init(tree.ref(p));
    for (let step = 0; step < steps; step++) {
      const [u, next] = opt.update(gradsAt(step), s, tree.ref(p));
      s = next;
      p = applyUpdates(p, u);
    }
    const out = { w: read(p.w), b: read(p.b) };
    tree.dispose([p, s]);
    return out;
  };

  test("the matrix stays on its INT8 grid; seeded draws repeat", () => {
    const a = run(make(1), 4);
    // The grid was the pre-rounding range's; its extremes rounded to codes k ∈ 253…255 apart, so
    // every value of a group is min + j·(max − min)/k for an integer j, for one of those k.
    for (let g = 0; g < a.w.length / G; g++) {
      const part = Array.from(a.w.subarray(g * G, (g + 1) * G));
      const [lo, hi] = [Math.min(...part), Math.max(...part)];
      const onGrid = (k: number) =>
        part.every((x) => {
          const j = ((x - lo) * k) / (hi - lo);
          return Math.abs(j - Math.round(j)) < 2e-3;
        });
      expect([253, 254, 255].some(onGrid), `group ${g}`).toBe(true);
    }
    expect(run(make(1), 4).w).toEqual(a.w);
    expect(run(make(2), 4).w).not.toEqual(a.w);
  });

  test("resumes bit for bit", () => {
    expectExactResume(make(), start, gradsAt);
  });

  test("leaks nothing", async () => {
    await expectNoLeaks({ make, params: start, grads: gradsAt, steps: 5, warmup: 1 });
  });

  test("bad weight options name the accepted values", () => {
    expect(() => qGalore({ weightBits: 4 })).toThrow(/weightBits must be one of 0, 8/);
    expect(() => qGalore({ weightBits: 8, weightGroupSize: 0 })).toThrow(/weightGroupSize/);
  });
});
