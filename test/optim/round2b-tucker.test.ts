/**
 * The Tucker (Tensor-GaLore) projection (issue 17): the truncated HOSVD's reconstruction against
 * NumPy's (SVD of each unfolding), exactness on tensors of low multilinear rank, golden
 * trajectories of GaLore's Adam on the Tucker core (tools/fixtures/round2b_tucker.py, every one of
 * 24 steps within 1e-4 relative), state size, exact resume and leaks; and that the registry's
 * tensor-galore steps exactly as galore on a tree without ≥3-D leaves (every LLaMA).
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { tensorGalore } from "../../src/optim/optimizers/tensor-galore.js";
import {
  hosvdFactors,
  modeProduct,
  tuckerExpand,
  tuckerProject,
} from "../../src/optim/projection/tucker.js";
import { getOptimizer } from "../../src/train/registry.js";
import { closeness, read, setup } from "../helpers/engine.js";
import { expectNoLeaks } from "../helpers/leaks.js";
import {
  expectExactResume,
  loadGolden,
  type Named,
  replayNamed,
} from "../helpers/optimizer-checks.js";

const fixture = loadGolden<
  { name: string; options: Record<string, number>; params: Named[] },
  { hosvd: { shape: number[]; rank: number; x: number[]; reconstruction: number[] }[] }
>("round2b_tucker");

beforeAll(setup);

const reconstruct = (x: np.Array, rank: number) => {
  const factors = hosvdFactors(x, rank);
  const out = tuckerExpand(tuckerProject(x, factors), factors);
  for (const f of factors) f.dispose();
  return out;
};

describe("truncated HOSVD", () => {
  test.each(fixture.hosvd.map((h) => [h.shape.join("×"), h] as const))(
    "%s: reconstruction equals NumPy's",
    (_n, h) => {
      const x = np.array(Float32Array.from(h.x), { shape: h.shape });
      const back = read(reconstruct(x, h.rank));
      expect(closeness(back, h.reconstruction, 1e-3, 1e-4).ratio).toBeLessThanOrEqual(1);
    },
  );

  test("a tensor of multilinear rank (2, 2, 2) is reconstructed exactly", () => {
    const fill = (shape: number[], salt: number) =>
      np.array(
        Float32Array.from({ length: shape[0] * shape[1] * (shape[2] ?? 1) }, (_, i) =>
          Math.sin(1.3 * i + salt),
        ),
        { shape },
      );
    let x = fill([2, 2, 2], 0);
    [fill([5, 2], 1), fill([4, 2], 2), fill([6, 2], 3)].forEach((u, k) => {
      x = modeProduct(x, u, k);
    });
    const expected = read(x.ref);
    const { ratio } = closeness(read(reconstruct(x, 2)), expected, 1e-4, 1e-5);
    expect(ratio).toBeLessThanOrEqual(1);
  });
});

test.each(fixture.cases.map((c) => [c.name, c] as const))("golden trajectory: %s", (_n, c) => {
  expect(replayNamed(fixture, c.params, tensorGalore(c.options))).toBeNull();
});

describe("optimizer", () => {
  const fill = (shape: number[], salt: number) =>
    np.array(
      Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) =>
        Math.sin(0.37 * i + salt),
      ),
      { shape },
    );
  const start = () => ({ c: fill([4, 3, 5], 1), w: fill([6, 4], 2), b: fill([4], 3) });
  const gradsAt = (step: number) => ({
    c: fill([4, 3, 5], 10 + step),
    w: fill([6, 4], 20 + step),
    b: fill([4], 30 + step),
  });
  const make = () => tensorGalore({ rank: 2, updateProjGap: 2 });

  test("resumes bit for bit; the 3-D leaf keeps factors and core moments only", () => {
    const bytes = expectExactResume(make(), start, gradsAt);
    const galoreOnly = expectExactResume(
      tensorGalore({ rank: 2, updateProjGap: 2 }),
      () => {
        const { c, ...rest } = start();
        c.dispose();
        return rest;
      },
      (s) => {
        const { c, ...rest } = gradsAt(s);
        c.dispose();
        return rest;
      },
    );
    // Factors 4·2 + 3·2 + 5·2 and moments 2·(2·2·2) floats.
    expect(bytes - galoreOnly).toBe(4 * (8 + 6 + 10 + 16));
  });

  test("leaks nothing", async () => {
    await expectNoLeaks({ make, params: start, grads: gradsAt, steps: 5, warmup: 1 });
  });
});

describe("tensor-galore in the registry", () => {
  test("on matrices and vectors it steps exactly as galore does", () => {
    const options = { rank: 2, updateProjGap: 2, learningRate: 0.01 };
    const opts = [getOptimizer("tensor-galore"), getOptimizer("galore")].map((e) =>
      e.create(options),
    );
    const shapes: Record<string, number[]> = {
      "model.layers.0.mlp.up_proj.weight": [8, 6],
      "model.layers.0.input_layernorm.weight": [6],
    };
    const value = (name: string, shape: number[], step: number) =>
      np.array(
        Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) =>
          Math.sin(i * 0.7 + step + name.length),
        ),
        { shape },
      );
    const params = Object.fromEntries(Object.entries(shapes).map(([n, s]) => [n, value(n, s, 0)]));
    const states = opts.map((o) => o.init(tree.share(params)));
    for (let step = 1; step <= 5; step++) {
      const updates = opts.map((o, i) => {
        const grads = Object.fromEntries(
          Object.entries(shapes).map(([n, s]) => [n, value(n, s, step)]),
        );
        const [u, next] = o.update(grads, states[i], tree.share(params));
        states[i] = next;
        return u as Record<string, np.Array>;
      });
      for (const name of Object.keys(shapes)) {
        expect(read(updates[0]![name]!)).toEqual(read(updates[1]![name]!));
      }
    }
    tree.dispose([params, states]);
  });
});
