/**
 * Loss-based sample reweighting: the weights against the paper's formulas computed on the host
 * (float64), and the gradient of the reweighted loss against the closed-form gradient of the
 * weighted loss Σ_b w_b ℓ_b / B with those weights held constant.
 */
import { grad, numpy as np, valueAndGrad } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { initLlama, llamaForward, llamaLoss } from "../../src/nn/llama.js";
import { llamaPreset } from "../../src/nn/llama-config.js";
import { rowCrossEntropy } from "../../src/nn/loss.js";
import { LOSS_RULES, type LossRule, lossWeights } from "../../src/train/reweight/loss-weights.js";
import { formatReweight, parseReweight } from "../../src/train/reweight/spec.js";
import { makeTrainLossAndGrad, reweightedLoss } from "../../src/train/reweight/train-loss.js";
import { closeness, read, setup } from "../helpers/engine.js";

beforeAll(setup);

/** The paper's weights, written out on the host: normalise, strategy, softmax(g / r) · B. */
function hostWeights(losses: number[], rule: LossRule, r: number): number[] {
  const lo = Math.min(...losses);
  const hi = Math.max(...losses);
  const span = Math.max(hi - lo, 1e-6);
  const g = losses.map((l) => {
    const n = (2 * l - hi - lo) / span;
    if (rule === "loss-linear") return Math.min(n + 1, 1);
    if (rule === "loss-quadratic") return 1 - n * n;
    return Math.abs(n);
  });
  const top = Math.max(...g);
  const e = g.map((v) => Math.exp((v - top) / r));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => (v / s) * losses.length);
}

describe("lossWeights", () => {
  const losses = [2.0, 0.5, 3.5, 1.25, 2.75];
  for (const rule of LOSS_RULES) {
    for (const r of [1, 0.3]) {
      test(`${rule}, r = ${r}: the paper's formula, mean 1`, () => {
        const w = read(lossWeights(np.array(new Float32Array(losses)), rule, r));
        const want = hostWeights(losses, rule, r);
        expect(closeness(w, want, 1e-5).ratio).toBeLessThanOrEqual(1);
        expect(w.reduce((a, b) => a + b, 0)).toBeCloseTo(losses.length, 4);
      });
    }
  }

  test("shapes: linear caps the hard half, quadratic favours the middle, extremes the ends", () => {
    const l = np.array(new Float32Array([0, 1, 2, 3, 4]));
    const lin = read(lossWeights(l.ref, "loss-linear"));
    const quad = read(lossWeights(l.ref, "loss-quadratic"));
    const ext = read(lossWeights(l, "loss-extremes"));
    expect(lin[0]).toBeLessThan(lin[1]);
    expect(lin[2]).toBeCloseTo(lin[4], 6); // min(n + 1, 1) is flat above the middle
    expect(quad[2]).toBeGreaterThan(quad[0]);
    expect(quad[0]).toBeCloseTo(quad[4], 6);
    expect(ext[0]).toBeGreaterThan(ext[2]);
  });

  test("equal losses (and a large r) give uniform weights", () => {
    const w = read(lossWeights(np.array(new Float32Array([1.5, 1.5, 1.5])), "loss-linear"));
    expect(closeness(w, [1, 1, 1], 1e-6).ratio).toBeLessThanOrEqual(1);
    const big = read(lossWeights(np.array(new Float32Array([0, 1, 9])), "loss-extremes", 1e6));
    expect(closeness(big, [1, 1, 1], 1e-5).ratio).toBeLessThanOrEqual(1);
  });
});

describe("reweightedLoss gradient", () => {
  const B = 4;
  const T = 3;
  const V = 5;
  const Z = Array.from({ length: B * T * V }, (_, i) => Math.sin(0.9 * i + 0.3) * (1 + (i % 3)));
  const Y = Array.from({ length: B * T }, (_, i) => (i * 7 + 2) % V);
  const logits = () => np.array(new Float32Array(Z)).reshape([B, T, V]);
  const targets = () => np.array(Y, { dtype: np.int32 }).reshape([B, T]);

  // Host float64 softmax and per-sequence losses.
  const probs: number[][] = [];
  const tokenLoss: number[] = [];
  for (let i = 0; i < B * T; i++) {
    const z = Z.slice(i * V, i * V + V);
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    probs.push(e.map((v) => v / s));
    tokenLoss.push(-Math.log(e[Y[i]] / s));
  }
  const seqLoss = Array.from({ length: B }, (_, b) => {
    let sum = 0;
    for (let t = 0; t < T; t++) sum += tokenLoss[b * T + t];
    return sum / T;
  });

  for (const rule of LOSS_RULES) {
    test(`${rule}: d/dlogits of Σ w_b ℓ_b / B with w held constant`, () => {
      const w = hostWeights(seqLoss, rule, 0.7);
      // dℓ_b/dz_{b,t,k} = (p_k - δ_{k,y}) / T, times w_b / B.
      const want: number[] = [];
      for (let i = 0; i < B * T; i++) {
        const b = Math.floor(i / T);
        for (let k = 0; k < V; k++) {
          want.push((w[b] / (B * T)) * (probs[i][k] - (k === Y[i] ? 1 : 0)));
        }
      }
      const spec = { kind: rule, r: 0.7 } as const;
      const [[value, plain], g] = valueAndGrad(
        (z: np.Array) => reweightedLoss(z, targets(), spec),
        { hasAux: true },
      )(logits());
      expect(closeness(read(g), want, 1e-4, 1e-7).ratio).toBeLessThanOrEqual(1);
      const objective = seqLoss.reduce((a, l, b) => a + w[b] * l, 0) / B;
      expect(read(value)[0]).toBeCloseTo(objective, 5);
      expect(read(plain)[0]).toBeCloseTo(seqLoss.reduce((a, b) => a + b, 0) / B, 5);
      tree.dispose([value, plain, g]);
    });
  }
});

describe("makeTrainLossAndGrad on a tiny decoder", () => {
  test("reports the plain loss; gradient = that of the hand-weighted loss", () => {
    const config = llamaPreset("tiny", 11, { max_position_embeddings: 16 });
    const params = initLlama(config, 3);
    const ids = Array.from({ length: 3 * 9 }, (_, i) => (i * i + 3 * i) % 11);
    const x = () =>
      np
        .array(
          ids.filter((_, i) => i % 9 < 8),
          { dtype: np.int32 },
        )
        .reshape([3, 8]);
    const y = () =>
      np
        .array(
          ids.filter((_, i) => i % 9 > 0),
          { dtype: np.int32 },
        )
        .reshape([3, 8]);
    const spec = parseReweight("loss-extremes:0.5");
    const lossAndGrad = makeTrainLossAndGrad(config, spec);
    const [loss, grads] = lossAndGrad(tree.ref(params), x(), y());
    const plain = llamaLoss(tree.ref(params), x(), y(), config);
    expect(read(loss)[0]).toBeCloseTo(read(plain)[0], 5);
    // The weights by hand from the per-sequence losses, then the gradient of the weighted sum.
    const rows = Array.from(
      read(rowCrossEntropy(llamaForward(tree.ref(params), x(), config), y())),
    );
    const w = hostWeights(rows, "loss-extremes", 0.5);
    const weighted = grad((p: typeof params) =>
      rowCrossEntropy(llamaForward(p, x(), config), y())
        .mul(np.array(new Float32Array(w)))
        .mean(),
    )(tree.ref(params));
    for (const name of Object.keys(params)) {
      const c = closeness(read(grads[name]), read(weighted[name]), 1e-3, 1e-6);
      expect(c.ratio, name).toBeLessThanOrEqual(1);
    }
    tree.dispose([loss, grads, plain, weighted, params]);
    lossAndGrad.dispose();
  });
});

describe("parseReweight", () => {
  test("accepted forms and their canonical text", () => {
    expect(parseReweight("none")).toEqual({ kind: "none" });
    expect(parseReweight("loss-linear")).toEqual({ kind: "loss-linear", r: 1 });
    expect(formatReweight(parseReweight("loss-quadratic:0.25"))).toBe("loss-quadratic:0.25");
    expect(parseReweight("focal")).toEqual({ kind: "focal", gamma: 2 });
    expect(parseReweight("focal:0")).toEqual({ kind: "focal", gamma: 0 });
  });

  test.each([
    "loss",
    "loss-linear:0",
    "loss-linear:-1",
    "focal:x",
    "focal:-2",
    "none:1",
    "focal:1:2",
    "loss-extremes:",
  ])("bad value %s: one line naming the accepted forms", (value) => {
    expect(() => parseReweight(value)).toThrow(
      /^--reweight must be one of none, loss-linear\[:r\], loss-quadratic\[:r\], loss-extremes\[:r\], focal\[:gamma\] \(r > 0, gamma ≥ 0\); got "/,
    );
  });
});
