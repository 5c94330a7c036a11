/**
 * Data-diet scores on a tiny decoder against direct computation (EL2N from the logits on the
 * host, GraNd from one backward pass per sequence), the windows they name, the top-fraction
 * rule, and the pruned sampler (only kept windows; exact resume).
 */
import { type numpy as np, valueAndGrad } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { gatherBatch, validationStarts } from "../../src/data/sampler.js";
import * as tree from "../../src/engine/tree.js";
import { initLlama, llamaForward, llamaLoss } from "../../src/nn/llama.js";
import { llamaPreset } from "../../src/nn/llama-config.js";
import {
  checkScoresMatch,
  type DataScores,
  makeScorer,
  scoreWindows,
  tokensSha256,
  topWindows,
} from "../../src/train/data-scores.js";
import { PrunedSampler } from "../../src/train/reweight/pruned-sampler.js";
import { closeness, read, setup } from "../helpers/engine.js";

beforeAll(setup);

const V = 13;
const T = 8;
const config = llamaPreset("tiny", V, { max_position_embeddings: 16 });
const tokens = Int32Array.from({ length: 5 * T + 3 }, (_, i) => (i * i + 5 * i + 1) % V);

describe("scores against direct computation", () => {
  test("EL2N: mean over tokens of ‖softmax − onehot‖₂, from the logits on the host", () => {
    const params = initLlama(config, 2);
    const batch = gatherBatch(tokens, Int32Array.from([0, T, 3 * T]), T);
    const logits = read(llamaForward(tree.ref(params), batch.inputs.ref, config));
    const y = read(batch.targets.ref);
    const want = [0, 1, 2].map((b) => {
      let sum = 0;
      for (let t = 0; t < T; t++) {
        const z = Array.from(logits.slice((b * T + t) * V, (b * T + t + 1) * V));
        const m = Math.max(...z);
        const e = z.map((v) => Math.exp(v - m));
        const s = e.reduce((a, c) => a + c, 0);
        const sq = e.reduce((a, v, k) => a + (v / s - (k === y[b * T + t] ? 1 : 0)) ** 2, 0);
        sum += Math.sqrt(sq);
      }
      return sum / T;
    });
    const scorer = makeScorer(config, "el2n");
    const got = read(scorer(params, batch.inputs, batch.targets));
    expect(closeness(got, want, 1e-5).ratio).toBeLessThanOrEqual(1);
    scorer.dispose();
  });

  test("GraNd: the gradient norm of each sequence's own loss, one backward pass each", () => {
    const params = initLlama(config, 4);
    const starts = Int32Array.from([T, 2 * T, 4 * T]);
    const lossAndGrad = valueAndGrad((p: typeof params, x: np.Array, y: np.Array) =>
      llamaLoss(p, x, y, config),
    );
    const want = Array.from(starts, (s) => {
      const one = gatherBatch(tokens, Int32Array.from([s]), T);
      const [loss, grads] = lossAndGrad(tree.ref(params), one.inputs, one.targets);
      loss.dispose();
      let sq = 0;
      for (const g of Object.values(grads)) for (const v of read(g)) sq += v * v;
      tree.dispose(grads);
      return Math.sqrt(sq);
    });
    const batch = gatherBatch(tokens, starts, T);
    const scorer = makeScorer(config, "grand");
    const got = read(scorer(tree.ref(params), batch.inputs, batch.targets));
    expect(closeness(got, want, 1e-4).ratio).toBeLessThanOrEqual(1);
    scorer.dispose();
    tree.dispose(params);
  });

  test("scoreWindows: every non-overlapping window, batch size does not change a score", async () => {
    const params = initLlama(config, 5);
    const a = await scoreWindows(params, config, tokens, {
      seqLen: T,
      batchSize: 5,
      method: "el2n",
    });
    const b = await scoreWindows(params, config, tokens, {
      seqLen: T,
      batchSize: 2,
      method: "el2n",
    });
    expect(Array.from(a.starts)).toEqual(Array.from(validationStarts(tokens.length, T)));
    expect(a.starts.length).toBe(5);
    expect(closeness(b.scores, a.scores, 1e-5).ratio).toBeLessThanOrEqual(1);
    tree.dispose(params);
  });
});

const file = (scores: number[], starts = scores.map((_, i) => i * T)): DataScores => ({
  format: "rankwise-data-scores",
  version: 1,
  method: "el2n",
  model: "m",
  data: "d",
  seqLen: T,
  valFraction: 0.1,
  trainTokens: tokens.length,
  trainSha256: tokensSha256(tokens),
  starts,
  scores,
});

describe("pruning", () => {
  test("topWindows keeps the highest scores (ceil of the fraction, ties by position)", () => {
    const s = file([0.5, 0.9, 0.1, 0.9, 0.7]);
    expect(Array.from(topWindows(s, 0.4))).toEqual([T, 3 * T]);
    expect(Array.from(topWindows(s, 0.5))).toEqual([T, 3 * T, 4 * T]);
    expect(Array.from(topWindows(s, 0.01))).toEqual([T]);
    expect(topWindows(s, 1).length).toBe(5);
  });

  test("the sampler draws only kept windows, seeded, and resumes exactly", () => {
    const kept = Int32Array.from([T, 3 * T]);
    const opts = { batchSize: 6, seqLen: T, seed: 9 };
    const a = new PrunedSampler(tokens, kept, opts);
    const first = [a.nextStarts(), a.nextStarts()];
    for (const starts of first) for (const s of starts) expect([T, 3 * T]).toContain(s);
    expect(new Set(first.flatMap((s) => Array.from(s))).size).toBe(2); // both get drawn
    const saved = a.state();
    const later = [a.nextStarts(), a.nextStarts()].map((s) => Array.from(s));
    const b = PrunedSampler.resume(tokens, kept, opts, saved);
    expect(b.position).toBe(2);
    expect([b.nextStarts(), b.nextStarts()].map((s) => Array.from(s))).toEqual(later);
    const again = new PrunedSampler(tokens, kept, opts);
    expect(Array.from(again.nextStarts())).toEqual(Array.from(first[0]));
    const batch = again.next();
    const direct = gatherBatch(tokens, batch.starts, T);
    expect(Array.from(read(batch.inputs))).toEqual(Array.from(read(direct.inputs)));
    tree.dispose([batch.inputs, batch.targets, direct.inputs, direct.targets]);
  });

  test("a score file must match the run's split and window length", () => {
    const s = file([1, 2, 3]);
    const run = { data: "d", seqLen: T, valFraction: 0.1, train: tokens };
    expect(() => checkScoresMatch(s, "f.json", run)).not.toThrow();
    expect(() => checkScoresMatch(s, "f.json", { ...run, seqLen: 4 })).toThrow(
      /computed with --seq-len 8, this run has 4/,
    );
    const other = tokens.slice();
    other[3] = (other[3] + 1) % V;
    expect(() => checkScoresMatch(s, "f.json", { ...run, train: other })).toThrow(
      /computed on other training tokens/,
    );
  });
});
