/**
 * Golden trajectories for the GaLore family: test/fixtures/galore_trajectories.json holds, per
 * case, a seeded start {w: matrix, b: vector}, held-out gradients (random orthogonal singular
 * vectors, well separated singular values) and the parameters after every step computed by a
 * re-implementation of the authors' code (tools/fixtures/galore_reference.py). We replay the
 * gradients and compare the parameters after EVERY step to 1e-4 relative.
 */
import { readFileSync } from "node:fs";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
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
import { replay, type TrajectoryCase } from "../helpers/trajectory.js";

interface Case extends TrajectoryCase {
  method: string;
  options: Record<string, unknown>;
  learningRate?: number;
  q0?: number[];
}

const RTOL = 1e-4;
const ATOL = 1e-5;

const fixture: { cases: Case[] } = JSON.parse(
  readFileSync(new URL("../fixtures/galore_trajectories.json", import.meta.url), "utf8"),
);

const factories: Record<string, (c: Case) => GradientTransformation<any>> = {
  galore: (c) => galore(c.options),
  galore8bit: (c) => galore8bit(c.options),
  galoreAdafactor: (c) => galoreAdafactor(c.options),
  fira: (c) => fira(c.options),
  frugal: (c) => frugal(c.options),
  qGalore: (c) => qGalore(c.options),
  gwt: (c) => gwt(c.options),
  powerSgd: (c) => chain(powerSgd(c.options), sgd({ learningRate: c.learningRate! })),
};

/** PowerSGD starts from the reference's Q (its random start is the only unseeded part). */
function injectQ0(c: Case, state: any) {
  if (!c.q0) return state;
  const leaf = state[0].leaves.w;
  leaf.q.dispose();
  leaf.q = np.array(Float32Array.from(c.q0), {
    shape: [c.shapes.w[1], c.q0.length / c.shapes.w[1]],
  });
  return state;
}

const replayCase = (c: Case) =>
  replay(c, factories[c.method](c), { rtol: RTOL, atol: ATOL }, (state) => injectQ0(c, state));

beforeAll(setup);

describe("golden trajectories (tools/fixtures/galore_reference.py)", () => {
  test("the fixture covers every method, projType and projector", () => {
    const methods = new Set(fixture.cases.map((c) => c.method));
    expect([...methods].sort()).toEqual(Object.keys(factories).sort());
    const galoreCases = fixture.cases.filter((c) => c.method === "galore");
    const projTypes = new Set(galoreCases.map((c) => c.options.projType ?? "std"));
    expect([...projTypes].sort()).toEqual(["full", "left", "reverse_std", "right", "std"]);
    const projectors = new Set(galoreCases.map((c) => c.options.projector ?? "svd"));
    expect([...projectors].sort()).toEqual(["dct", "grass", "online_pca", "svd"]);
    for (const c of fixture.cases) {
      expect(c.params.length, c.name).toBe(c.grads.length);
      expect(c.init.w.length, c.name).toBe(c.shapes.w[0] * c.shapes.w[1]);
    }
  });

  test.each(fixture.cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    expect(replayCase(c)).toBeNull();
  });
});
