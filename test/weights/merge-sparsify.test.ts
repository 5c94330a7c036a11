/**
 * The randomised merges by their statistics (their draws have no reference to replay): DARE's
 * Bernoulli drop keeps ≈ density of the entries, and its L1 rescale gives back the task vector's
 * L1 norm exactly; DELLA keeps ≈ density overall, more of the large entries than of the small,
 * by its rank-based probabilities density − ε + 2ε·rank/(c−1); the same seed gives the same
 * bits, another seed other ones. Magnitude pruning keeps exactly ⌊density·n⌋ largest entries.
 * dare_linear through runMerge keeps the L1 norm of every task vector.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { numpy as np, random } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { loadModel } from "../../src/nn/pretrained.js";
import { runMerge } from "../../src/weights/merge/run.js";
import { sparsify } from "../../src/weights/merge/sparsify.js";
import { read, setup } from "../helpers/engine.js";

let tmp: string;
beforeAll(async () => {
  await setup();
  tmp = mkdtempSync(join(tmpdir(), "rankwise-merge-stats-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const l1 = (x: Float64Array) => x.reduce((s, v) => s + Math.abs(v), 0);
const normal = (seed: number, shape: number[]) => random.normal(random.key(seed), shape);

describe("random (DARE)", () => {
  test("keeps ≈ density, rescales to the same L1 norm, one factor for every kept entry", () => {
    const x = normal(1, [100, 100]);
    const xs = read(x.ref);
    const out = read(sparsify(x, { method: "random", density: 0.3, rescale: true, seed: 7 }));
    const kept = out.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0) / out.length;
    expect(Math.abs(kept - 0.3)).toBeLessThan(0.015); // 6 standard deviations
    expect(l1(out) / l1(xs)).toBeCloseTo(1, 5);
    let keptL1 = 0;
    for (let i = 0; i < xs.length; i++) if (out[i] !== 0) keptL1 += Math.abs(xs[i]!);
    const factor = l1(xs) / keptL1;
    for (let i = 0; i < xs.length; i += 97) {
      if (out[i] !== 0) expect(out[i]! / xs[i]!).toBeCloseTo(factor, 4);
    }
  });

  test("without rescale the kept entries are the originals", () => {
    const x = normal(2, [50, 40]);
    const xs = read(x.ref);
    const out = read(sparsify(x, { method: "random", density: 0.5, rescale: false, seed: 3 }));
    for (let i = 0; i < xs.length; i++) if (out[i] !== 0) expect(out[i]).toBe(xs[i]);
  });

  test("the same seed gives the same mask, another seed another", () => {
    const run = (seed: number) =>
      read(sparsify(normal(4, [30, 30]), { method: "random", density: 0.4, rescale: true, seed }));
    expect(run(11)).toEqual(run(11));
    expect(run(11)).not.toEqual(run(12));
  });
});

describe("della_magprune (DELLA)", () => {
  test("keeps ≈ density, large magnitudes more often (rank-based), same L1 norm", () => {
    const rows = 50;
    const cols = 200;
    const x = normal(5, [rows, cols]);
    const xs = read(x.ref);
    const density = 0.5;
    const epsilon = 0.2;
    const out = read(
      sparsify(x, { method: "della_magprune", density, rescale: true, epsilon, seed: 9 }),
    );
    let kept = 0;
    const byQuarter = [0, 0, 0, 0];
    for (let r = 0; r < rows; r++) {
      const row = Array.from(xs.subarray(r * cols, (r + 1) * cols), (v, c) => ({ v, c }));
      row.sort((a, b) => Math.abs(a.v) - Math.abs(b.v));
      row.forEach(({ c }, rank) => {
        if (out[r * cols + c] !== 0) {
          kept++;
          byQuarter[Math.floor((4 * rank) / cols)]!++;
        }
      });
    }
    expect(Math.abs(kept / xs.length - density)).toBeLessThan(0.03);
    // Mean keep probability of rank quarter q: density − ε + 2ε·(q + 1/2)/4.
    const perQuarter = (rows * cols) / 4;
    byQuarter.forEach((n, q) => {
      const p = density - epsilon + (2 * epsilon * (q + 0.5)) / 4;
      expect(Math.abs(n / perQuarter - p), `quarter ${q}`).toBeLessThan(0.04);
    });
    expect(l1(out) / l1(xs)).toBeCloseTo(1, 5);
  });

  test("seeded", () => {
    const run = (seed: number) =>
      read(
        sparsify(normal(6, [20, 20]), {
          method: "della_magprune",
          density: 0.4,
          rescale: true,
          epsilon: 0.1,
          seed,
        }),
      );
    expect(run(1)).toEqual(run(1));
    expect(run(1)).not.toEqual(run(2));
  });

  test("density ± epsilon outside (0, 1) is one line", () => {
    expect(() =>
      sparsify(np.ones([4, 4]), {
        method: "della_magprune",
        density: 0.9,
        rescale: true,
        epsilon: 0.15,
      }),
    ).toThrow(/^epsilon 0.15 with density 0.9: density ± epsilon must lie in \(0, 1\)$/);
  });
});

test("magnitude keeps exactly the ⌊density·n⌋ largest entries", () => {
  const x = normal(8, [10, 25]);
  const xs = read(x.ref);
  const out = read(sparsify(x, { method: "magnitude", density: 0.37, rescale: false }));
  const k = Math.floor(0.37 * 250);
  const threshold = Array.from(xs, Math.abs).sort((a, b) => b - a)[k - 1]!;
  for (let i = 0; i < xs.length; i++) {
    expect(out[i]! + 0).toBe(Math.abs(xs[i]!) >= threshold ? xs[i] : 0); // −0 counts as 0
  }
});

describe("dare through runMerge", () => {
  const models = resolve("test/fixtures/merge/models");
  const config = (method: string, density: number) =>
    JSON.stringify({
      merge_method: method,
      base_model: `${models}/base`,
      models: [{ model: `${models}/a`, parameters: { weight: 1, density } }],
    });

  test("dare_linear: every task vector keeps its L1 norm, ≈ density of it is kept", async () => {
    const out = join(tmp, "dare");
    await runMerge(config("dare_linear", 0.4), { out, seed: 5 });
    const [merged, base, a] = await Promise.all(
      [out, `${models}/base`, `${models}/a`].map((d) => loadModel(d)),
    );
    let kept = 0;
    let total = 0;
    try {
      for (const name of Object.keys(base.params)) {
        const b = read(base.params[name]!.ref);
        const m = read(merged.params[name]!.ref);
        const d = read(a.params[name]!.ref).map((v, i) => v - b[i]!);
        const dm = m.map((v, i) => v - b[i]!);
        expect(l1(dm) / l1(d), name).toBeCloseTo(1, 4);
        kept += m.reduce((n, v, i) => n + (v !== b[i] ? 1 : 0), 0);
        total += m.length;
      }
    } finally {
      tree.dispose([merged.params, base.params, a.params]);
    }
    expect(Math.abs(kept / total - 0.4)).toBeLessThan(0.04);
  });

  test("dare_ties: --seed fixes the result; another seed changes it", async () => {
    const bytes = async (name: string, seed: number) => {
      await runMerge(config("dare_ties", 0.5), { out: join(tmp, name), seed });
      return readFileSync(join(tmp, name, "model.safetensors"));
    };
    const one = await bytes("s1", 1);
    expect((await bytes("s1-again", 1)).equals(one)).toBe(true);
    expect((await bytes("s2", 2)).equals(one)).toBe(false);
  });
});

describe("magnitude and magnitude_outliers keep entries by stable rank", () => {
  // Host reference: stable descending order of |δ| (equal magnitudes by index), as mergekit's
  // sort gives with PyTorch's stable sort; many ties so the tie rule matters.
  const values = [3, -1, 2, -3, 1, 0, 2, -2, 1, 3, 0, -1];
  const order = (desc: boolean) =>
    values
      .map((v, i) => [Math.abs(v), i] as const)
      .sort((a, b) => (desc ? b[0] - a[0] : a[0] - b[0]) || a[1] - b[1])
      .map(([, i]) => i);

  test("magnitude (TIES): the k largest, ties in index order", async () => {
    for (const k of [1, 2, 3, 5, 7, 11]) {
      const kept = new Set(order(true).slice(0, k));
      const out = await read(
        sparsify(np.array(values), { method: "magnitude", density: k / 12, rescale: false }),
      );
      expect([...out].map((v) => v + 0)).toEqual(values.map((v, i) => (kept.has(i) ? v : 0)));
    }
  });

  test("magnitude_outliers (breadcrumbs): ranks [bottom, n − top) ascending", async () => {
    const asc = order(false);
    for (const [density, gamma] of [
      [0.5, 0.1],
      [0.25, 0.2],
      [0.75, 0],
    ]) {
      const top = Math.floor(gamma * 12);
      const bottom = 12 - Math.floor(density * 12) - top;
      const kept = new Set(asc.slice(bottom, 12 - top));
      const out = await read(
        sparsify(np.array(values), {
          method: "magnitude_outliers",
          density,
          gamma,
          rescale: false,
        }),
      );
      expect([...out].map((v) => v + 0)).toEqual(values.map((v, i) => (kept.has(i) ? v : 0)));
    }
  });
});
