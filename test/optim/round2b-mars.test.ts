/**
 * MARS-Lion and MARS-Shampoo (issue 17): golden trajectories from tools/fixtures/round2b_mars.py
 * (the authors' update_fn re-implemented in float64 NumPy; every one of 30 steps within 1e-4
 * relative), exact resume, stateBytes, leaks and option errors.
 */
import { beforeAll, describe, expect, test } from "vitest";
import { marsLion } from "../../src/optim/optimizers/mars-lion.js";
import { marsShampoo } from "../../src/optim/optimizers/mars-shampoo.js";
import { setup } from "../helpers/engine.js";
import { expectNoLeaks } from "../helpers/leaks.js";
import {
  expectExactResume,
  goldenTrajectories,
  loadGolden,
  type Named,
  smallGrads,
  smallTree,
} from "../helpers/optimizer-checks.js";

const fixture = loadGolden<{ name: string; optimizer: string; options: any; params: Named[] }>(
  "round2b_mars",
);

const factories: Record<string, (o: any) => any> = {
  "mars-lion": marsLion,
  "mars-shampoo": marsShampoo,
};

beforeAll(setup);

goldenTrajectories(fixture, (c) => factories[c.optimizer](c.options));

const start = smallTree((i) => 0.1 * (i - 6));
const gradsAt = smallGrads;

describe("state", () => {
  // Matrices keep (previous, m): 2·12 floats; vectors Adam's (m, v) or, with optimize1d,
  // Lion's (previous, m) / MARS-AdamW's (m, v, previous).
  test.each([
    ["mars-lion", () => marsLion(), 4 * (2 * 12 + 2 * 3)],
    ["mars-lion optimize1d", () => marsLion({ optimize1d: true, weightDecay: 0.1 }), 4 * 2 * 15],
    ["mars-shampoo", () => marsShampoo({ weightDecay: 0.1 }), 4 * (2 * 12 + 2 * 3)],
    ["mars-shampoo optimize1d", () => marsShampoo({ optimize1d: true }), 4 * (2 * 12 + 3 * 3)],
  ])("%s: resumes bit for bit; stateBytes", (_name, make, bytes) => {
    expect(expectExactResume(make(), start, gradsAt)).toBe(bytes);
  });

  test.each([
    ["mars-lion", () => marsLion({ optimize1d: true })],
    ["mars-shampoo", () => marsShampoo()],
  ])("%s leaks nothing", async (_name, make) => {
    await expectNoLeaks({ make, params: start, grads: gradsAt, steps: 8, warmup: 1 });
  });
});

test("bad options name the option and the accepted values", () => {
  expect(() => marsLion({ b1: 1 })).toThrow(/b1 must be in \[0, 1\)/);
  expect(() => marsLion({ b2: 0.9 } as any)).toThrow(/unknown option "b2".*accepted/);
  expect(() => marsShampoo({ gamma: -1 })).toThrow(/gamma must be ≥ 0/);
  expect(() => marsShampoo({ betas1d: [0.9] as any })).toThrow(/betas1d must be a pair/);
});
