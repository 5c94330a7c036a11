/**
 * SOAP on leaves with three or more dimensions (issue 17): one Kronecker factor per dimension, as
 * the authors' code keeps them, against golden trajectories from tools/fixtures/round2e_soap_tensor.py
 * (24 steps, every one within 1e-4 relative: a 3-D leaf, a 4-D leaf with a dimension over
 * maxPrecondDim, mergeDims); the old (out, −1) matrix view misses them; merge_dims' shapes; exact
 * resume across a refresh with stateBytes in closed form; leaks; the option check.
 */
import { readFileSync } from "node:fs";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { mergedShape, soap } from "../../src/optim/optimizers/soap.js";
import { setup } from "../helpers/engine.js";
import { expectNoLeaks } from "../helpers/leaks.js";
import {
  expectExactResume,
  expectResumeContinues,
  type Named,
  replayNamed,
} from "../helpers/optimizer-checks.js";

interface Case {
  name: string;
  options: Record<string, number | boolean>;
  shapes: Record<string, number[]>;
  init: Named;
  grads: Named[];
  params: Named[];
}
const fixture: { rtol: number; atol: number; cases: Case[] } = JSON.parse(
  readFileSync(new URL("../fixtures/round2e_soap_tensor.json", import.meta.url), "utf8"),
);
const meta = { rtol: fixture.rtol, atol: fixture.atol };

beforeAll(setup);

test.each(fixture.cases.map((c) => [c.name, c] as const))("golden trajectory: %s", (_n, c) => {
  expect(replayNamed({ ...c, meta }, c.params, soap(c.options))).toBeNull();
});

test("the (out, −1) matrix view used before does not reproduce the 3-D reference", () => {
  const c = fixture.cases[0];
  const [out, ...rest] = c.shapes.c;
  const shapes = { ...c.shapes, c: [out, rest.reduce((a, b) => a * b, 1)] };
  const flat = c.params.map((p) => ({ ...p }));
  expect(replayNamed({ ...c, shapes, meta }, flat, soap(c.options))).toMatch(/c\[/);
});

test("mergeDims follows the authors' merge_dims", () => {
  expect(mergedShape([128, 64, 3, 3], 10000)).toEqual([8192, 9]);
  expect(mergedShape([4, 2, 3, 3], 12)).toEqual([8, 9]);
  expect(mergedShape([7, 2, 3], 6)).toEqual([7, 6]);
  expect(mergedShape([20000, 3], 10000)).toEqual([20000, 3]);
  expect(mergedShape([6, 4], 10000)).toEqual([24]);
});

const fill = (shape: number[], salt: number) =>
  np.array(
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) =>
      Math.sin(0.7 * i + salt),
    ),
    { shape },
  );
const start = () => ({ c: fill([3, 4, 5], 1), k: fill([2, 3, 2, 2], 2), b: fill([5], 3) });
const gradsAt = (step: number) => ({
  c: fill([3, 4, 5], 10 + step),
  k: fill([2, 3, 2, 2], 20 + step),
  b: fill([5], 30 + step),
});

describe.each([
  // c: factors 3², 4², 5²; k: 2², 3², 2², 2² (two statistics and two bases per factor).
  ["per dimension", { precondFrequency: 2 }, 2 * (9 + 16 + 25) + 2 * (4 + 9 + 4 + 4)],
  // maxPrecondDim 6: c [3, 4, 5] → [3, 4, 5]; k [2, 3, 2, 2] → [6, 4].
  ["mergeDims", { precondFrequency: 2, maxPrecondDim: 6, mergeDims: true }, 2 * 50 + 2 * (36 + 16)],
] as const)("%s", (_name, options, factorFloats) => {
  test("resumes bit for bit across a refresh; stateBytes counts factors, bases and moments", () => {
    // Moments: c, k (60 and 24 entries, twice) and the AdamW fallback's b (5 entries, twice).
    const moments = 2 * (60 + 24) + 2 * 5;
    expect(expectExactResume(soap(options), start, gradsAt)).toBe(4 * (factorFloats + moments));
  });

  test("a restored state continues the training identically", () => {
    expectResumeContinues(() => soap(options), start, gradsAt, { before: 3, after: 3 });
  });

  test("leaks nothing", async () => {
    await expectNoLeaks({
      make: () => soap(options),
      params: start,
      grads: gradsAt,
      steps: 5,
      warmup: 2,
    });
  });
});

test("mergeDims must be a boolean", () => {
  expect(() => soap({ mergeDims: 1 as any })).toThrow(/mergeDims/);
});
