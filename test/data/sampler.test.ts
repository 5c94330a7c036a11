import type { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import {
  type Batch,
  BatchSampler,
  validationBatches,
  validationStarts,
} from "../../src/data/sampler.js";
import { Xoshiro128 } from "../../src/engine/rng.js";
import { liveBuffers, setup } from "../helpers/engine.js";

beforeAll(setup);

/** Consume an int32 array into a list of rows. */
function rows(a: np.Array): number[][] {
  const [r, c] = a.shape as [number, number];
  const data = Array.from(a.dataSync() as Int32Array);
  return Array.from({ length: r }, (_, i) => data.slice(i * c, (i + 1) * c));
}

function take(batch: Batch): { starts: number[]; inputs: number[][]; targets: number[][] } {
  expect(batch.inputs.dtype).toBe("int32");
  expect(batch.targets.dtype).toBe("int32");
  return {
    starts: Array.from(batch.starts),
    inputs: rows(batch.inputs),
    targets: rows(batch.targets),
  };
}

// Distinct values (7919 is prime and coprime to the modulus), so a window's first token tells
// where it came from without trusting the sampler's reported offsets.
const N = 5000;
const tokens = Int32Array.from({ length: N }, (_, i) => (i * 7919) % 10007);
const positionOf = new Map(Array.from(tokens, (v, i) => [v, i] as const));

describe("xoshiro128**", () => {
  test("matches the reference generator's outputs from state {1, 2, 3, 4}", () => {
    // Outputs of Blackman & Vigna's xoshiro128starstar.c seeded with s = {1, 2, 3, 4}.
    const rng = new Xoshiro128([1, 2, 3, 4]);
    const out = Array.from({ length: 10 }, () => rng.nextUint32());
    expect(out).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597,
      4258142804,
    ]);
  });

  test("seeding is deterministic; below(n) is in range and roughly uniform", () => {
    const a = Xoshiro128.fromSeed(42);
    const b = Xoshiro128.fromSeed(42);
    const c = Xoshiro128.fromSeed(43);
    const xs = Array.from({ length: 8 }, () => a.nextUint32());
    expect(Array.from({ length: 8 }, () => b.nextUint32())).toEqual(xs);
    expect(Array.from({ length: 8 }, () => c.nextUint32())).not.toEqual(xs);
    // Seeds differing only above bit 32 still differ.
    expect(Xoshiro128.fromSeed(2 ** 40).state()).not.toEqual(Xoshiro128.fromSeed(0).state());
    expect(Xoshiro128.fromSeed(-1).state()).not.toEqual(Xoshiro128.fromSeed(1).state());

    const rng = Xoshiro128.fromSeed(7);
    const k = 10;
    const draws = 100_000;
    const counts = new Array<number>(k).fill(0);
    for (let i = 0; i < draws; i++) counts[rng.below(k)]!++;
    // Chi-square with 9 degrees of freedom: P(X > 27.88) = 0.001.
    const expected = draws / k;
    const chi2 = counts.reduce((s, n) => s + (n - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(27.88);
    expect(() => Xoshiro128.fromSeed(1.5)).toThrow(/seed/);
    expect(() => new Xoshiro128([0, 0, 0, 0])).toThrow(/all zero/);
  });
});

describe("BatchSampler", () => {
  test("rows are windows of the tokens: targets are inputs shifted by one", () => {
    const seqLen = 16;
    const sampler = new BatchSampler(tokens, { batchSize: 8, seqLen, seed: 1 });
    for (let step = 0; step < 5; step++) {
      const { starts, inputs, targets } = take(sampler.next());
      expect(inputs).toHaveLength(8);
      for (let r = 0; r < 8; r++) {
        const at = positionOf.get(inputs[r]![0]!)!;
        expect(at).toBe(starts[r]);
        expect(at + seqLen + 1).toBeLessThanOrEqual(N);
        expect(inputs[r]).toEqual(Array.from(tokens.slice(at, at + seqLen)));
        expect(targets[r]).toEqual(Array.from(tokens.slice(at + 1, at + seqLen + 1)));
      }
    }
    expect(sampler.position).toBe(5);
  });

  test("every valid offset is drawn, and none past the end", () => {
    const small = tokens.subarray(0, 12);
    const sampler = new BatchSampler(small, { batchSize: 64, seqLen: 8, seed: 3 });
    const seen = new Set<number>();
    for (let i = 0; i < 4; i++) for (const s of sampler.nextStarts()) seen.add(s);
    expect([...seen].sort((a, b) => a - b)).toEqual([0, 1, 2, 3]); // 12 - (8 + 1) + 1 offsets
  });

  test("same seed, same batches; another seed, other batches", () => {
    const draw = (seed: number) => {
      const s = new BatchSampler(tokens, { batchSize: 4, seqLen: 8, seed });
      return Array.from({ length: 3 }, () => Array.from(s.nextStarts()));
    };
    expect(draw(11)).toEqual(draw(11));
    expect(draw(11)).not.toEqual(draw(12));
  });

  test("state() and restore() continue the exact sequence", () => {
    const opts = { batchSize: 4, seqLen: 8, seed: 5 };
    const original = new BatchSampler(tokens, opts);
    for (let i = 0; i < 7; i++) original.nextStarts();
    const saved = JSON.parse(JSON.stringify(original.state()));
    expect(saved.seed).toBe(5);
    expect(saved.position).toBe(7);
    expect(saved.rng).toHaveLength(4);
    const expected = take(original.next());
    const resumed = BatchSampler.restore(tokens, opts, saved);
    expect(resumed.position).toBe(7);
    expect(take(resumed.next())).toEqual(expected);
    for (let i = 0; i < 5; i++) {
      expect(Array.from(resumed.nextStarts())).toEqual(Array.from(original.nextStarts()));
    }
    expect(resumed.state()).toEqual(original.state());
    // A fresh sampler replaying `position` batches lands on the same state.
    const replay = new BatchSampler(tokens, opts);
    for (let i = 0; i < 13; i++) replay.nextStarts();
    expect(replay.state()).toEqual(original.state());
    expect(() => BatchSampler.restore(tokens, { ...opts, seed: 6 }, saved)).toThrow(/seed/);
  });

  test("bad options are RangeErrors naming the option", () => {
    expect(() => new BatchSampler(tokens, { batchSize: 0, seqLen: 8 })).toThrow(/batchSize/);
    expect(() => new BatchSampler(tokens, { batchSize: 2, seqLen: 2.5 })).toThrow(/seqLen/);
    expect(() => new BatchSampler(tokens.subarray(0, 8), { batchSize: 2, seqLen: 8 })).toThrow(
      /too few for seqLen 8/,
    );
  });

  test("batches release their buffers when consumed", async () => {
    const sampler = new BatchSampler(tokens, { batchSize: 4, seqLen: 8 });
    const before = await liveBuffers();
    for (let i = 0; i < 3; i++) take(sampler.next());
    expect(await liveBuffers()).toBe(before);
  });
});

describe("validation batches", () => {
  test("fixed non-overlapping windows: each token after the first is a target once", () => {
    const val = tokens.subarray(0, 103);
    const seqLen = 10; // (103 - 1) / 10 → 10 windows
    const batches = [...validationBatches(val, { batchSize: 4, seqLen })].map(take);
    expect(batches.map((b) => b.inputs.length)).toEqual([4, 4, 2]);
    const targets = batches.flatMap((b) => b.targets.flat());
    expect(targets).toEqual(Array.from(val.slice(1, 101)));
    const inputs = batches.flatMap((b) => b.inputs.flat());
    expect(inputs).toEqual(Array.from(val.slice(0, 100)));
    const again = [...validationBatches(val, { batchSize: 4, seqLen })].map(take);
    expect(again).toEqual(batches);
  });

  test("maxBatches spreads the windows evenly over the split", () => {
    expect(Array.from(validationStarts(101, 10))).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    expect(Array.from(validationStarts(101, 10, 5))).toEqual([0, 20, 40, 60, 80]);
    expect(Array.from(validationStarts(101, 10, 3))).toEqual([0, 30, 60]);
    const batches = [...validationBatches(tokens, { batchSize: 2, seqLen: 10, maxBatches: 3 })];
    expect(batches.map((b) => Array.from(b.starts))).toEqual([
      [0, 830],
      [1660, 2490],
      [3320, 4150],
    ]);
    for (const b of batches) take(b);
    expect(() => validationBatches(tokens, { batchSize: 2, seqLen: 10, maxBatches: 0 })).toThrow(
      /maxBatches/,
    );
  });
});
