/**
 * Per-row cross-entropy, focal loss and LDAM against float64 host references: values, and
 * gradients with respect to the logits from the closed-form derivatives (not autodiff).
 */
import { grad, numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import {
  crossEntropy,
  drwClassWeights,
  focalLoss,
  ldamLoss,
  ldamMargins,
  rowCrossEntropy,
} from "../../src/nn/loss.js";
import { initMlp, makeMlpLossAndGrad, mlpConfig, mlpForward } from "../../src/nn/mlp.js";
import { closeness, read, setup } from "../helpers/engine.js";

beforeAll(setup);

const N = 6;
const C = 4;
// Deterministic logits with spread (some confident rows) and labels hitting every class.
const Z = Array.from({ length: N * C }, (_, i) => Math.sin(1.3 * i + 0.7) * (1 + (i % 5)));
const Y = [0, 3, 1, 2, 3, 1];
const logits = () => np.array(new Float32Array(Z)).reshape([N, C]);
const labels = () => np.array(Y, { dtype: np.int32 });

function softmaxRow(z: number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}
const row = (i: number, z = Z) => z.slice(i * C, i * C + C);

describe("rowCrossEntropy", () => {
  test("each row's mean token loss, and their mean is crossEntropy", () => {
    // [2 rows, 3 tokens, C]: rows are the first two and last... of Z regrouped
    const z3 = np.array(new Float32Array(Z)).reshape([2, 3, C]);
    const y3 = np.array(Y, { dtype: np.int32 }).reshape([2, 3]);
    const got = read(rowCrossEntropy(z3, y3));
    const tokenLoss = Y.map((y, i) => -Math.log(softmaxRow(row(i))[y]));
    const want = [0, 1].map(
      (r) => (tokenLoss[3 * r] + tokenLoss[3 * r + 1] + tokenLoss[3 * r + 2]) / 3,
    );
    expect(closeness(got, want, 1e-5).ratio).toBeLessThanOrEqual(1);
    const mean = read(crossEntropy(logits(), labels()))[0];
    expect(mean).toBeCloseTo((want[0] + want[1]) / 2, 5);
  });
});

describe("focalLoss", () => {
  for (const gamma of [0, 1, 2, 0.5]) {
    test(`gamma ${gamma}: value and closed-form gradient`, () => {
      let want = 0;
      const wantGrad: number[] = [];
      for (let i = 0; i < N; i++) {
        const p = softmaxRow(row(i));
        const pt = p[Y[i]];
        want += -((1 - pt) ** gamma) * Math.log(pt);
        // dFL/dp_t, then dp_t/dz_k = p_t (δ_ky - p_k)
        const dp =
          (gamma === 0 ? 0 : gamma * (1 - pt) ** (gamma - 1) * Math.log(pt)) -
          (1 - pt) ** gamma / pt;
        for (let k = 0; k < C; k++) wantGrad.push((dp * pt * ((k === Y[i] ? 1 : 0) - p[k])) / N);
      }
      want /= N;
      const got = read(focalLoss(logits(), labels(), gamma))[0];
      expect(Math.abs(got - want) / want).toBeLessThan(3e-5); // float32 exp/log
      const g = grad((z: np.Array) => focalLoss(z, labels(), gamma))(logits());
      expect(closeness(read(g), wantGrad, 1e-4, 1e-6).ratio).toBeLessThanOrEqual(1);
      g.dispose();
    });
  }

  test("gamma 0 is cross-entropy; a bad gamma is refused", () => {
    const a = read(focalLoss(logits(), labels(), 0))[0];
    const b = read(crossEntropy(logits(), labels()))[0];
    expect(a).toBeCloseTo(b, 6);
    expect(() => focalLoss(logits(), labels(), -1)).toThrow(/gamma must be a number ≥ 0/);
  });
});

describe("LDAM", () => {
  const counts = [500, 100, 20, 5];

  test("margins ∝ n^(-1/4) with the rarest at maxMargin; DRW weights sum to C", () => {
    const m = ldamMargins(counts, 0.5);
    expect(m[3]).toBeCloseTo(0.5, 12);
    expect(m[0]).toBeCloseTo(0.5 * (5 / 500) ** 0.25, 12);
    const w = drwClassWeights(counts, 0.999);
    expect(w.reduce((a, b) => a + b, 0)).toBeCloseTo(C, 10);
    const raw = counts.map((n) => (1 - 0.999) / (1 - 0.999 ** n));
    expect(w[1] / w[2]).toBeCloseTo(raw[1] / raw[2], 10);
    expect(() => ldamMargins([3, 0, 1, 2])).toThrow(/class counts must be positive/);
  });

  for (const weighted of [false, true]) {
    test(`value and closed-form gradient${weighted ? " with DRW class weights" : ""}`, () => {
      const s = 30;
      const margins = ldamMargins(counts, 0.5);
      const cw = weighted ? drwClassWeights(counts, 0.99) : counts.map(() => 1);
      let num = 0;
      let den = 0;
      const rows: number[][] = [];
      for (let i = 0; i < N; i++) {
        const z = row(i).map((v, k) => s * (v - (k === Y[i] ? margins[k] : 0)));
        const p = softmaxRow(z);
        num += -cw[Y[i]] * Math.log(p[Y[i]]);
        den += cw[Y[i]];
        rows.push(p.map((pk, k) => s * cw[Y[i]] * (pk - (k === Y[i] ? 1 : 0))));
      }
      const wantGrad = rows.flat().map((v) => v / den);
      const opts = weighted ? { classWeights: cw } : {};
      const got = read(ldamLoss(logits(), labels(), counts, opts))[0];
      expect(Math.abs(got - num / den) / (num / den)).toBeLessThan(1e-5);
      const g = grad((z: np.Array) => ldamLoss(z, labels(), counts, opts))(logits());
      expect(closeness(read(g), wantGrad, 1e-4, 1e-5).ratio).toBeLessThanOrEqual(1);
      g.dispose();
    });
  }

  test("the MLP trains with it through makeMlpLossAndGrad; wrong counts are refused", () => {
    const config = mlpConfig({ sizes: [3, 5, C] });
    const params = initMlp(config, 1);
    const x = () => np.array(new Float32Array(Array.from({ length: 18 }, (_, i) => Math.cos(i))));
    const lossAndGrad = makeMlpLossAndGrad(config, (z, y) => ldamLoss(z, y, counts));
    const [loss, grads] = lossAndGrad(tree.ref(params), x().reshape([N, 3]), labels());
    const direct = ldamLoss(
      mlpForward(tree.ref(params), x().reshape([N, 3]), config),
      labels(),
      counts,
    );
    expect(read(loss)[0]).toBeCloseTo(read(direct)[0], 5);
    expect(Object.keys(grads).sort()).toEqual(Object.keys(params).sort());
    tree.dispose([loss, grads, direct, params]);
    lossAndGrad.dispose();
    expect(() => ldamLoss(logits(), labels(), [1, 2, 3])).toThrow(/needs 4 class counts, got 3/);
  });
});
