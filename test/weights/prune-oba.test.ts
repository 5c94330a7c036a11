/**
 * OBA (weights/prune/oba.ts): the Taylor terms −g⊙w + ½ w⊙(Hw) against closed forms, and the
 * pruning it drives against its own rule.
 * - A linear model with a squared loss is quadratic in W: the terms equal the closed form built
 *   from g = (WX + b − Y)Xᵀ/N and H = I ⊗ XXᵀ/N, and their sum is exactly L(W = 0) − L(W).
 * - On the pruning fixture's LLaMA, obaTerms (chunks of 3, 3, 2 sequences) equals −g⊙w + ½ w⊙Hw
 *   with Hw from central differences of the gradient along w on all sequences at once.
 * - Pattern: exactly ⌊numel·s⌋ zeros per matrix, every pruned |score| ≤ every kept one; 2:4
 *   groups; embeddings, norms and head untouched; nothing leaks.
 */
import { readFileSync } from "node:fs";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { makeLossAndGrad } from "../../src/nn/llama.js";
import type { LlamaConfig } from "../../src/nn/llama-config.js";
import { loadModel } from "../../src/nn/pretrained.js";
import { PRUNE_METHODS, pruneModel } from "../../src/weights/prune/index.js";
import { obaTerms, taylorTerms } from "../../src/weights/prune/oba.js";
import { closeness, liveBuffers, read, setup } from "../helpers/engine.js";

beforeAll(setup);

describe("taylorTerms on a quadratic loss", () => {
  // y = W x + b over N samples; L = Σ_n ‖W x_n + b − y_n‖² / (2N). Only W is prunable.
  const [out, inp, n] = [3, 4, 5];
  const seq = (k: number, f: (i: number) => number) =>
    Float64Array.from({ length: k }, (_, i) => f(i));
  const W = seq(out * inp, (i) => Math.sin(1.3 * i + 0.2));
  const b = seq(out, (i) => 0.3 * i - 0.4);
  const X = seq(inp * n, (i) => Math.cos(0.7 * i) + 0.1 * i); // [inp, n]
  const Y = seq(out * n, (i) => Math.sin(0.5 * i)); // [out, n]

  const residual = (w: Float64Array) => {
    const r = new Float64Array(out * n);
    for (let o = 0; o < out; o++)
      for (let s = 0; s < n; s++) {
        let v = b[o] - Y[o * n + s];
        for (let c = 0; c < inp; c++) v += w[o * inp + c] * X[c * n + s];
        r[o * n + s] = v;
      }
    return r;
  };
  const lossOf = (w: Float64Array) => residual(w).reduce((a, v) => a + v * v, 0) / (2 * n);

  test("terms match −g⊙W + ½ W⊙(W·XXᵀ/N), and sum to L(0) − L(W)", async () => {
    const before = await liveBuffers();
    const r = residual(W);
    const expected = new Float64Array(out * inp);
    for (let o = 0; o < out; o++)
      for (let c = 0; c < inp; c++) {
        let g = 0;
        let hw = 0;
        for (let s = 0; s < n; s++) g += (r[o * n + s] * X[c * n + s]) / n;
        for (let c2 = 0; c2 < inp; c2++) {
          let gram = 0;
          for (let s = 0; s < n; s++) gram += (X[c * n + s] * X[c2 * n + s]) / n;
          hw += gram * W[o * inp + c2];
        }
        const w = W[o * inp + c];
        expected[o * inp + c] = -g * w + 0.5 * w * hw;
      }
    const x = np.array(Float32Array.from(X), { shape: [inp, n] });
    const y = np.array(Float32Array.from(Y), { shape: [out, n] });
    const loss = (p: Record<string, np.Array>) => {
      const pred = np.matmul(p.w, x.ref).add(p.b.reshape([out, 1]));
      return np
        .square(pred.sub(y.ref))
        .sum()
        .mul(1 / (2 * n));
    };
    const terms = taylorTerms(
      loss,
      {
        w: np.array(Float32Array.from(W), { shape: [out, inp] }),
        b: np.array(Float32Array.from(b)),
      },
      (name) => name === "w",
    );
    expect(Object.keys(terms)).toEqual(["w"]);
    const got = read(terms.w);
    expect(closeness(got, expected, 1e-5, 1e-6).ratio).toBeLessThanOrEqual(1);
    const exactChange = lossOf(new Float64Array(out * inp)) - lossOf(W);
    expect(got.reduce((a, v) => a + v, 0)).toBeCloseTo(exactChange, 4);
    tree.dispose([terms, x, y]);
    expect(await liveBuffers()).toBe(before);
  });
});

const DIR = new URL("../fixtures/prune/", import.meta.url).pathname;
const calib = JSON.parse(readFileSync(`${DIR}calibration.json`, "utf8")) as {
  samples: number;
  seqLen: number;
  tokens: number[];
};
const calibration = () => ({
  tokens: Int32Array.from(calib.tokens),
  samples: calib.samples,
  seqLen: calib.seqLen,
});
const isDecoderLinear = (name: string) => /\.layers\.\d+\..*_proj\.weight$/.test(name);

describe("OBA on a small LLaMA", () => {
  let config: LlamaConfig;
  let params: Record<string, np.Array>;

  beforeAll(async () => {
    const model = await loadModel(`${DIR}model`);
    config = model.config as LlamaConfig;
    params = model.params;
  });

  test("obaTerms equals −g⊙w + ½ w⊙Hw with Hw from central differences", async () => {
    const before = await liveBuffers();
    const got = obaTerms(params, config, calibration(), 3);
    const { samples, seqLen } = calib;
    const ids = Int32Array.from(calib.tokens);
    const inputs = new Int32Array(samples * (seqLen - 1));
    const targets = new Int32Array(samples * (seqLen - 1));
    for (let s = 0; s < samples; s++) {
      inputs.set(ids.subarray(s * seqLen, (s + 1) * seqLen - 1), s * (seqLen - 1));
      targets.set(ids.subarray(s * seqLen + 1, (s + 1) * seqLen), s * (seqLen - 1));
    }
    const lossAndGrad = makeLossAndGrad(config);
    const gradAt = (scale: number) => {
      const p: Record<string, np.Array> = {};
      for (const [k, v] of Object.entries(params))
        p[k] = isDecoderLinear(k) ? v.ref.mul(scale) : v.ref;
      const shape = [samples, seqLen - 1];
      const [loss, g] = lossAndGrad(
        p,
        np.array(inputs, { shape, dtype: np.int32 }),
        np.array(targets, { shape, dtype: np.int32 }),
      );
      loss.dispose();
      const out: Record<string, Float64Array> = {};
      for (const [k, v] of Object.entries(g)) out[k] = read(v);
      tree.dispose(g);
      return out;
    };
    const eps = 3e-3; // truncation error ∝ eps² (1e-2 is 10× worse); float32 noise ∝ 1/eps
    const g0 = gradAt(1);
    const gPlus = gradAt(1 + eps);
    const gMinus = gradAt(1 - eps);
    lossAndGrad.dispose();
    let names = 0;
    for (const [name, w] of Object.entries(params)) {
      if (!isDecoderLinear(name)) continue;
      names++;
      const wv = read(w);
      const want = wv.map(
        (x, i) => -g0[name][i] * x + (0.5 * x * (gPlus[name][i] - gMinus[name][i])) / (2 * eps),
      );
      const scale = Math.max(...want.map(Math.abs));
      expect(closeness(got.get(name)!, want, 0, 2e-3 * scale).ratio, name).toBeLessThanOrEqual(1);
    }
    expect(got.size).toBe(names);
    expect(await liveBuffers()).toBe(before);
  });

  test("prunes the lowest |term| per matrix, or N of every M; the rest untouched", async () => {
    const before = await liveBuffers();
    const terms = obaTerms(params, config, calibration());
    for (const [sparsity, nm] of [
      [0.4, undefined],
      [0.5, [2, 4]],
    ] as const) {
      const { params: pruned, summary } = pruneModel(tree.ref(params), config, PRUNE_METHODS.oba, {
        sparsity,
        nm: nm ? [...nm] : undefined,
        calibration: calibration(),
      });
      expect(summary.method).toBe("oba");
      for (const [name, w] of Object.entries(pruned)) {
        const data = read(w);
        if (!isDecoderLinear(name)) {
          expect(data, name).toEqual(read(params[name]));
          continue;
        }
        const score = terms.get(name)!.map(Math.abs);
        const [rows, cols] = w.shape;
        if (nm) {
          for (let r = 0; r < rows; r++)
            for (let g = 0; g < cols; g += nm[1]) {
              const group = data.subarray(r * cols + g, r * cols + g + nm[1]);
              expect(group.filter((v) => v === 0).length, `${name} ${r}/${g}`).toBe(nm[0]);
            }
          continue;
        }
        expect(data.filter((v) => v === 0).length, name).toBe(Math.floor(data.length * sparsity));
        let maxPruned = 0;
        let minKept = Infinity;
        for (let i = 0; i < data.length; i++) {
          if (data[i] === 0) maxPruned = Math.max(maxPruned, score[i]);
          else minKept = Math.min(minKept, score[i]);
        }
        // float32 rescoring inside prune: allow its rounding
        expect(maxPruned, name).toBeLessThanOrEqual(minKept * (1 + 1e-6));
      }
      tree.dispose(pruned);
    }
    expect(await liveBuffers()).toBe(before);
  });
});
