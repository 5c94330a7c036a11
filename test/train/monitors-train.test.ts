/**
 * The matrix monitors in a training run (`--monitors`, `--monitor-every`): "monitor" rows at the
 * chosen interval with the chosen groups, every 2-D weight in the per-matrix maps and every
 * tensor in the gradient norms; monitoring never changes training (same weights, bit for bit);
 * bad flags are one line naming the accepted values.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { validateConfig } from "../../src/train/config.js";
import { train } from "../../src/train/trainer.js";
import { read, setup } from "../helpers/engine.js";
import { TINY_RUN, writeTinyCorpus } from "../helpers/tiny-base.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "rankwise-monitors-"));
let corpus: string;

beforeAll(async () => {
  await setup();
  corpus = writeTinyCorpus(tempDir()).corpus;
});

const BASE = { model: "tiny", ...TINY_RUN, steps: 4, logEvery: 2, seed: 5 };

const rows = (out: string) =>
  readFileSync(join(out, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));

async function finalWeights(out: string): Promise<Map<string, Float64Array>> {
  const ck = await loadCheckpoint(out);
  const weights = new Map<string, Float64Array>();
  tree.walk(ck.params, (leaf, path) => {
    if (tree.isArray(leaf)) weights.set(path, read(leaf));
  });
  tree.dispose([ck.params, ck.optState]);
  return weights;
}

test("monitor rows every k steps, with the chosen groups; training is unchanged", async () => {
  const watched = tempDir();
  const plain = tempDir();
  const config = validateConfig({
    ...BASE,
    data: corpus,
    monitors: "spectral,alignment,rank",
    monitorEvery: 2,
  });
  await train({ config, out: watched, quiet: true });
  await train({ config: validateConfig({ ...BASE, data: corpus }), out: plain, quiet: true });

  const monitor = rows(watched).filter((r) => r.type === "monitor");
  expect(monitor.map((r) => r.step)).toEqual([2, 4]);
  expect(rows(plain).some((r) => r.type === "monitor")).toBe(false);

  const weights = await finalWeights(plain);
  const matrices = [...weights.keys()].filter((p) => {
    const row = monitor[0];
    return p in row.gradNorms && p in (row.sigma ?? {});
  });
  for (const row of monitor) {
    expect(Object.keys(row.gradNorms).sort()).toEqual([...weights.keys()].sort());
    expect(Object.keys(row.sigma).sort()).toEqual(matrices.sort());
    expect(Object.keys(row.stableRank).sort()).toEqual(matrices.sort());
    expect(Object.keys(row.gradWeightCos).sort()).toEqual(matrices.sort());
    for (const p of matrices) {
      expect(row.sigma[p]).toBeGreaterThan(0);
      expect(row.stableRank[p]).toBeGreaterThanOrEqual(1 - 1e-4);
      expect(Math.abs(row.spectralAlignment[p])).toBeLessThanOrEqual(1 + 1e-5);
      expect(Math.abs(row.gradWeightCos[p])).toBeLessThanOrEqual(1 + 1e-5);
    }
    expect(row.sigmaMax).toBe(Math.max(...Object.values(row.sigma as Record<string, number>)));
    expect(row.saPositive).toBeGreaterThanOrEqual(0);
    expect(row.saPositive).toBeLessThanOrEqual(1);
  }
  expect(matrices.length).toBeGreaterThan(4);

  // Monitoring only reads: the weights are the same bits with and without it.
  const seen = await finalWeights(watched);
  for (const [p, w] of weights)
    expect(Buffer.from(seen.get(p)!.buffer)).toEqual(Buffer.from(w.buffer));
});

test("bad --monitors and --monitor-every values are one line naming what is accepted", () => {
  expect(() => validateConfig({ ...BASE, monitors: "spectral,svd" })).toThrow(
    /--monitors must be a comma-separated list of spectral, alignment, rank \(or none\); got "svd"/,
  );
  expect(() => validateConfig({ ...BASE, monitorEvery: 0 })).toThrow(
    /--monitor-every must be an integer ≥ 1/,
  );
  expect(validateConfig({ ...BASE, monitors: "rank" }).monitors).toEqual(["rank"]);
});
