/**
 * Golden trajectories for the classic optimizers: test/fixtures/classic_optimizers.json holds, for
 * each case, a seeded start, 25 seeded gradients and the parameters after every step as computed
 * by the reference (torch.optim 1.13 where torch has the method, else the authors' algorithm
 * re-written in numpy; see tools/fixtures/classic_optimizers.py). We replay the gradients through
 * our optimizer and compare the parameters after EVERY step.
 */
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, test } from "vitest";
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
import { type Optimizer, replay, type TrajectoryCase } from "../helpers/trajectory.js";

interface Case extends TrajectoryCase {
  optimizer: string;
  options: Record<string, unknown>;
}

const RTOL = 1e-4;
const ATOL = 1e-7;

const fixture: { cases: Case[] } = JSON.parse(
  readFileSync(new URL("../fixtures/classic_optimizers.json", import.meta.url), "utf8"),
);

const factories: Record<string, (options: any) => Optimizer> = {
  sgd,
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
  signum,
  signSgd,
  novograd,
};

const replayCase = (c: Case) =>
  replay(c, factories[c.optimizer](c.options), { rtol: RTOL, atol: ATOL });

beforeAll(setup);

describe("golden trajectories (tools/fixtures/classic_optimizers.py)", () => {
  test("the fixture covers every classic optimizer with 20+ steps", () => {
    const covered = new Set(fixture.cases.map((c) => c.optimizer));
    expect([...covered].sort()).toEqual(Object.keys(factories).sort());
    for (const c of fixture.cases) {
      expect(c.grads.length, c.name).toBeGreaterThanOrEqual(20);
      expect(c.params.length, c.name).toBe(c.grads.length);
      expect(c.init.w.length, c.name).toBe(c.shapes.w[0] * c.shapes.w[1]);
    }
  });

  test.each(fixture.cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    expect(replayCase(c)).toBeNull();
  });
});
