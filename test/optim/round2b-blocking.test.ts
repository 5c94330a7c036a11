/**
 * Shampoo and SOAP with blocking of large dimensions (issue 17): golden trajectories from
 * tools/fixtures/round2b_blocking.py (distributed Shampoo's blocks, each run through the unblocked
 * torch references of tools/fixtures/matrix_optimizers.py; every one of 24 steps within 1e-4
 * relative), block ranges, blocks that cover the leaf change nothing, exact resume and leaks.
 */
import { readFileSync } from "node:fs";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { applyUpdates } from "../../src/optim/core.js";
import { shampoo } from "../../src/optim/optimizers/shampoo.js";
import { soap } from "../../src/optim/optimizers/soap.js";
import { blockRanges } from "../../src/optim/transforms/blocked.js";
import { read, setup } from "../helpers/engine.js";
import { expectNoLeaks } from "../helpers/leaks.js";
import { expectExactResume, type Named, replayNamed } from "../helpers/optimizer-checks.js";

interface Case {
  name: string;
  optimizer: "shampoo" | "soap";
  options: Record<string, number>;
  shapes: Record<string, number[]>;
  init: Named;
  grads: Named[];
  params: Named[];
}
const fixture: { rtol: number; atol: number; cases: Case[] } = JSON.parse(
  readFileSync(new URL("../fixtures/round2b_blocking.json", import.meta.url), "utf8"),
);
const factories = { shampoo, soap };

beforeAll(setup);

test.each(fixture.cases.map((c) => [c.name, c] as const))("golden trajectory: %s", (_n, c) => {
  const golden = { ...c, meta: { rtol: fixture.rtol, atol: fixture.atol } };
  expect(replayNamed(golden, c.params, factories[c.optimizer](c.options))).toBeNull();
});

test("block ranges cover a side, the last block taking the remainder", () => {
  expect(blockRanges(7, 3)).toEqual([
    [0, 3],
    [3, 6],
    [6, 7],
  ]);
  expect(blockRanges(6, 3)).toEqual([
    [0, 3],
    [3, 6],
  ]);
  expect(blockRanges(2, 3)).toEqual([[0, 2]]);
});

const fill = (shape: number[], salt: number) =>
  np.array(
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) =>
      Math.sin(0.7 * i + salt),
    ),
    { shape },
  );
const start = () => ({ w: fill([7, 5], 1), c: fill([3, 2, 3], 2), b: fill([5], 3) });
const gradsAt = (step: number) => ({
  w: fill([7, 5], 10 + step),
  c: fill([3, 2, 3], 20 + step),
  b: fill([5], 30 + step),
});

describe.each([
  [
    "shampoo",
    (blockSize: number) => shampoo({ precondFrequency: 2, startPrecondStep: 1, blockSize }),
  ],
  ["soap", (blockSize: number) => soap({ precondFrequency: 2, blockSize })],
] as const)("%s", (_name, make) => {
  test("a block size that covers every leaf leaves the trajectory unchanged", () => {
    const run = (opt: ReturnType<typeof make>) => {
      let p: any = start();
      let s = opt.init(tree.ref(p));
      for (let step = 0; step < 4; step++) {
        const [u, next] = opt.update(gradsAt(step), s, tree.ref(p));
        s = next;
        p = applyUpdates(p, u);
      }
      const out = tree.leaves(p).map((a) => Array.from(read(a as np.Array)));
      tree.dispose([p, s]);
      return out;
    };
    expect(run(make(8))).toEqual(run(make(0)));
  });

  test("resumes bit for bit; blocks keep smaller statistics", () => {
    expectExactResume(make(3), start, gradsAt);
    expectExactResume(make(0), start, gradsAt);
    // Compared on a long matrix (3 × 12: whole 3² + 12², blocked 4·(3² + 3²)); SOAP's factors of
    // the 3-D leaf c are per dimension when whole (3², 2², 3²), smaller than its blocks.
    const bytes = (blockSize: number) => {
      const s = make(blockSize).init({ w: fill([3, 12], 1) });
      const n = tree.stateBytes(s);
      tree.dispose(s);
      return n;
    };
    expect(bytes(3)).toBeLessThan(bytes(0));
  });

  test("leaks nothing", async () => {
    await expectNoLeaks({
      make: () => make(3),
      params: start,
      grads: gradsAt,
      steps: 5,
      warmup: 2,
    });
  });
});

test("a negative block size is refused, naming the option", () => {
  expect(() => shampoo({ blockSize: -1 })).toThrow(/blockSize must be an integer ≥ 0/);
  expect(() => soap({ blockSize: 1.5 })).toThrow(/blockSize must be an integer ≥ 0/);
});
