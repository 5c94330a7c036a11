/**
 * SPAM's sparse-momentum variant (issue 17): golden trajectories from
 * tools/fixtures/round2b_spam.py (the authors' SPAM.py rule re-implemented in NumPy, with the
 * subsets stored in the fixture and handed in through `sampler`; every one of 30 steps within
 * 1e-4 relative); the default sampler's subsets (exact size, distinct, ascending, seeded, about
 * uniform); exact resume; stateBytes; leaks; option errors.
 */
import { readFileSync } from "node:fs";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { spam } from "../../src/optim/optimizers/spam.js";
import { randomSubset } from "../../src/optim/optimizers/spam-sparse.js";
import { setup } from "../helpers/engine.js";
import { expectNoLeaks } from "../helpers/leaks.js";
import {
  expectExactResume,
  type Golden,
  type Named,
  replayNamed,
} from "../helpers/optimizer-checks.js";

type Case = {
  name: string;
  options: Record<string, number>;
  masks: Record<string, number[][]>;
  params: Named[];
};
const fixture: Golden & { cases: Case[] } = JSON.parse(
  readFileSync(new URL("../fixtures/round2b_spam.json", import.meta.url), "utf8"),
);

beforeAll(setup);

test.each(fixture.cases.map((c) => [c.name, c] as const))("golden trajectory %s", (_n, c) => {
  const requested: string[] = [];
  const sampler = ({ path, draw, count }: { path: string; draw: number; count: number }) => {
    requested.push(`${path}:${draw}`);
    expect(c.masks[path][draw].length).toBe(count);
    return np.array(Int32Array.from(c.masks[path][draw]), { dtype: np.int32 });
  };
  expect(replayNamed(fixture, c.params, spam({ ...c.options, sampler }))).toBeNull();
  // Only the matrices are sparse; one draw at init and one per reset.
  const draws = Math.floor(30 / c.options.resetInterval) + 1;
  expect(new Set(requested).size).toBe(2 * draws);
});

describe("default subsets", () => {
  const draw = (seed: number, d: number, leaf = 0) =>
    Array.from(
      randomSubset({ path: "w", leaf, size: 50, count: 20, draw: d, seed }).dataSync(),
    ) as number[];

  test("exactly count distinct indices in range, ascending; seeded", () => {
    const a = draw(7, 0);
    expect(a.length).toBe(20);
    expect(new Set(a).size).toBe(20);
    expect(a.every((i, j) => i >= 0 && i < 50 && (j === 0 || i > a[j - 1]))).toBe(true);
    expect(draw(7, 0)).toEqual(a);
    expect(draw(7, 1)).not.toEqual(a);
    expect(draw(8, 0)).not.toEqual(a);
    expect(draw(7, 0, 1)).not.toEqual(a);
  });

  test("every entry is chosen with probability count/size (binomial bounds)", () => {
    const hits = new Float64Array(50);
    const n = 200;
    for (let d = 0; d < n; d++) for (const i of draw(3, d)) hits[i]++;
    // Each count ~ Binomial(200, 0.4): mean 80, sd 6.9; 5 sd either side for 50 entries.
    for (const h of hits) expect(Math.abs(h - 80)).toBeLessThan(5 * Math.sqrt(n * 0.4 * 0.6));
  });
});

const start = () => ({
  w: np.array(
    Float32Array.from({ length: 30 }, (_, i) => 0.05 * (i - 15)),
    { shape: [6, 5] },
  ),
  b: np.array(new Float32Array([0.5, -0.25, 0.125, 1])),
});
const gradsAt = (step: number) => ({
  w: np.array(
    Float32Array.from({ length: 30 }, (_, i) => Math.sin(i + 3 * step)),
    { shape: [6, 5] },
  ),
  b: np.array(Float32Array.from({ length: 4 }, (_, i) => Math.cos(i * step + 1))),
});

test("resumes bit for bit across a redraw; state is 12 bytes per kept matrix entry", () => {
  const opt = spam({ density: 0.3, resetInterval: 4, warmupSteps: 2, clipDelay: 2, seed: 5 });
  // w keeps 9 of 30 entries: index (int32), m, v; b: dense m, v.
  expect(expectExactResume(opt, start, gradsAt)).toBe(12 * 9 + 8 * 4);
});

test("entries outside the subset get no step", () => {
  let kept = new Set<number>();
  const sampler = (r: Parameters<typeof randomSubset>[0]) => {
    const index = randomSubset(r);
    kept = new Set(Array.from(index.ref.dataSync()) as number[]);
    return index;
  };
  const opt = spam({ density: 0.3, resetInterval: 0, seed: 2, sampler });
  const state = opt.init({ w: start().w });
  const [u, next] = opt.update({ w: gradsAt(1).w }, state); // no zero gradient entry
  expect(kept.size).toBe(9);
  const values = Array.from((u as { w: np.Array }).w.dataSync());
  const moved = values.flatMap((x, i) => (x !== 0 ? [i] : []));
  expect(moved).toEqual([...kept].sort((a, b) => a - b));
  tree.dispose(next);
});

test("isSparse picks the sparse leaves; the others keep dense moments", () => {
  const wave = (salt: number) =>
    np.array(
      Float32Array.from({ length: 30 }, (_, i) => Math.cos(0.9 * i + salt)),
      { shape: [5, 6] },
    );
  const two = () => ({ ...start(), v: wave(0) });
  const grads2 = (step: number) => ({ ...gradsAt(step), v: wave(step + 1) });
  const opt = spam({ density: 0.3, resetInterval: 0, isSparse: (_leaf, path) => path === "w" });
  // w sparse (9 of 30: 12·9), v dense (8·30), b dense (8·4).
  expect(expectExactResume(opt, two, grads2)).toBe(12 * 9 + 8 * 30 + 8 * 4);
});

test("leaks nothing", async () => {
  await expectNoLeaks({
    make: () => spam({ density: 0.5, resetInterval: 3, warmupSteps: 1, clipDelay: 1 }),
    params: start,
    grads: gradsAt,
    steps: 8,
    warmup: 1,
  });
});

test("bad density or seed names the option and the accepted values", () => {
  expect(() => spam({ density: 0 })).toThrow(/density must be > 0/);
  expect(() => spam({ density: 1.5 })).toThrow(/density must be in \(0, 1\]/);
  expect(() => spam({ density: 0.5, seed: -1 })).toThrow(/seed must be an integer ≥ 0/);
});
