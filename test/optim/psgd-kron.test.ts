/**
 * PSGD-Kron (src/optim/optimizers/psgd-kron.ts).
 *
 * Golden trajectories: test/fixtures/psgd_kron.json holds, per case, a seeded start, 20 seeded
 * gradients (steps 5, 10, 15 scaled by 30, 1e-3, 10) and the parameters after every step as
 * computed by tools/fixtures/psgd_kron.py (kron_torch's algorithm re-written in torch, float64,
 * with the same seeded probe vectors). Case "triangular": triangular factors on both sides, a
 * preconditioner update every step, plus a vector routed to AdamW. Case "mixed": one diagonal and
 * one triangular factor per matrix, updates every other step, weight decay. We replay the
 * gradients and compare the parameters at every step (|ours − ref| ≤ 1e-4·|ref| + 1e-6).
 * Also: the norm bound against closed form, the update schedule, option validation, no leaks.
 */
import { readFileSync } from "node:fs";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { applyUpdates } from "../../src/optim/core.js";
import {
  psgdKron,
  spectralNormLowerBound,
  updatesPreconditioner,
} from "../../src/optim/optimizers/psgd-kron.js";
import { closeness, read, setup } from "../helpers/engine.js";
import { expectNoLeaks } from "../helpers/leaks.js";

type Leaves = Record<string, number[]>;

interface Case {
  name: string;
  options: Record<string, unknown>;
  shapes: Record<string, number[]>;
  init: Leaves;
  grads: Leaves[];
  params: Leaves[];
}

const RTOL = 1e-4;
const ATOL = 1e-6;

const fixture = JSON.parse(
  readFileSync(new URL("../fixtures/psgd_kron.json", import.meta.url), "utf8"),
) as { cases: Case[] };

const leaves = (values: Leaves, shapes: Record<string, number[]>) =>
  Object.fromEntries(
    Object.entries(values).map(([k, v]) => [k, np.array(Float32Array.from(v)).reshape(shapes[k])]),
  );

beforeAll(setup);

describe("psgdKron against the kron_torch-style reference", () => {
  for (const c of fixture.cases) {
    test(c.name, () => {
      const opt = psgdKron(c.options);
      let params: any = leaves(c.init, c.shapes);
      let state = opt.init(tree.ref(params));
      c.grads.forEach((g, step) => {
        const [updates, next] = opt.update(leaves(g, c.shapes), state, tree.ref(params));
        state = next;
        params = applyUpdates(params, updates);
        for (const [k, expected] of Object.entries(c.params[step])) {
          const actual = read(params[k]);
          let worst = 0;
          actual.forEach((a, i) => {
            const err = Math.abs(a - expected[i]) / (RTOL * Math.abs(expected[i]) + ATOL);
            worst = Math.max(worst, err);
          });
          expect(worst, `${c.name} step ${step + 1} leaf ${k}`).toBeLessThanOrEqual(1);
        }
      });
      tree.dispose(params);
      tree.dispose(state);
    });
  }
});

describe("pieces", () => {
  test("spectral-norm lower bound: exact for rank one, ≤ the norm otherwise", () => {
    // u uᵀ has spectral norm ‖u‖², which the bound recovers exactly.
    const u = [1, -2, 0.5, 3];
    const outer = u.map((a) => u.map((b) => a * b));
    const rankOne = read(spectralNormLowerBound(np.array(outer)));
    const squaredNorm = u.reduce((s, x) => s + x * x, 0);
    expect(closeness(rankOne, [squaredNorm], 1e-5).ratio).toBeLessThanOrEqual(1);
    // diag(3, 1, 2): the bound picks the column of the largest entry and gives 3.
    const diag = read(
      spectralNormLowerBound(
        np.array([
          [3, 0, 0],
          [0, 1, 0],
          [0, 0, 2],
        ]),
      ),
    );
    expect(diag[0]).toBeCloseTo(3, 5);
    // A full symmetric matrix: between the largest |entry| and the Frobenius norm.
    const s = [
      [2, 1, 0],
      [1, 3, 1],
      [0, 1, 4],
    ];
    const bound = read(spectralNormLowerBound(np.array(s)))[0];
    expect(bound).toBeGreaterThanOrEqual(4);
    expect(bound).toBeLessThanOrEqual(Math.sqrt(s.flat().reduce((a, x) => a + x * x, 0)));
  });

  test("preconditioner update schedule", () => {
    const steps = (p: number) =>
      Array.from({ length: 8 }, (_, i) => i + 1).filter((t) => updatesPreconditioner(t, p));
    expect(steps(1)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(steps(0.5)).toEqual([1, 3, 5, 7]);
    expect(steps(0.25)).toEqual([1, 5]);
  });
});

describe("validation", () => {
  test("bad options throw one-line errors", () => {
    expect(() => psgdKron({ b1: 1 })).toThrow(RangeError);
    expect(() => psgdKron({ precondLr: 0 })).toThrow(/precondLr/);
    expect(() => psgdKron({ precondInitScale: -1 })).toThrow(RangeError);
    expect(() => psgdKron({ precondUpdateProb: 0 })).toThrow(/precondUpdateProb/);
    expect(() => psgdKron({ precondUpdateProb: 1.5 })).toThrow(RangeError);
    expect(() => psgdKron({ maxSizeTriangular: 0 })).toThrow(/maxSizeTriangular/);
    expect(() => psgdKron({ seed: 0.5 })).toThrow(/seed/);
    expect(() => psgdKron({ weightDecay: -1 })).toThrow(/weightDecay/);
    expect(() => psgdKron({ beta1: 0.9 } as any)).toThrow(/unknown option "beta1"/);
  });

  test("a non-matrix leaf sent to the method throws", () => {
    const opt = psgdKron({ isMatrix: () => true });
    expect(() => opt.init({ v: np.zeros([3]) })).toThrow(/psgdKron.*≥ 2 dimensions/);
  });
});

test("no leaked arrays over 20 steps (triangular, diagonal and 4-D leaves)", async () => {
  const shapes: Record<string, number[]> = { a: [6, 4], b: [4, 5], k: [3, 2, 2, 2], v: [5] };
  const grads = (step: number) =>
    Object.fromEntries(
      Object.entries(shapes).map(([k, s]) => [k, np.ones(s).mul(Math.cos(step) + 0.1 * k.length)]),
    );
  await expectNoLeaks({
    make: () => psgdKron({ maxSizeTriangular: 4, precondUpdateProb: 0.5, weightDecay: 0.1 }),
    params: () => grads(1),
    grads,
    steps: 20,
    warmup: 2,
  });
});
