/**
 * Low-rank compression methods (src/weights/compress/) against closed forms: Eckart–Young for
 * truncated SVD (matrices built from known singular values), the rank rules on given spectra,
 * CUR's exact reconstruction of a low-rank matrix, FWSVD = SVD under uniform Fisher, LQER's
 * correction beating RTN alone (with RTN checked against its grid), LQ-LoRA no worse than one
 * LQER round, WeLore's global threshold and dense fallback.
 */
import { numpy as np, random } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { qr } from "../../src/linalg/qr.js";
import { cur } from "../../src/weights/compress/cur.js";
import { fwsvd } from "../../src/weights/compress/fwsvd.js";
import { lqLora } from "../../src/weights/compress/lq-lora.js";
import { lqer } from "../../src/weights/compress/lqer.js";
import { rtnQuantizer } from "../../src/weights/compress/quantizer.js";
import { checkRule, ruleRank, savesBytes } from "../../src/weights/compress/rank.js";
import { truncatedSvd } from "../../src/weights/compress/svd.js";
import type { LayerFactors } from "../../src/weights/compress/types.js";
import { weloreRanks } from "../../src/weights/compress/welore.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";

beforeAll(setup);

const OUT = 24;
const IN = 16;
/** Known singular values, descending. */
const SIGMA = [9, 7, 5, 4, 3, 2.5, 2, 1.5, 1, 0.8, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05];

/** Q₁ diag(σ) Q₂ᵀ with orthonormal Q₁ [OUT, IN], Q₂ [IN, IN] from QR of Gaussians. */
function withSingularValues(sigma: number[], seed: number): np.Array {
  const keys = random.split(random.key(seed), 2);
  const [k1, k2] = [keys.ref.slice(0), keys.slice(1)];
  const f1 = qr(random.normal(k1, [OUT, IN]));
  const f2 = qr(random.normal(k2, [IN, IN]));
  f1.r.dispose();
  f2.r.dispose();
  const [q1, q2] = [f1.q, f2.q];
  const s = np.array(Float32Array.from(sigma)).reshape([1, IN]);
  return np.matmul(q1.mul(s), q2.transpose());
}

/** Gaussian matrix. */
const gaussian = (shape: number[], seed: number) => random.normal(random.key(seed), shape);

/** ‖x‖_F² in float64 on the host. Consumes `x`. */
const sq = (x: np.Array) => {
  const total = read(x).reduce((s, v) => s + v * v, 0);
  x.dispose();
  return total;
};

/** W − (dense + B A) for factors (borrows all). */
function residual(w: np.Array, f: LayerFactors): np.Array {
  let approx = np.matmul(f.b.ref, f.a.ref);
  if (f.dense) approx = approx.add(f.dense.ref);
  return w.ref.sub(approx);
}

const disposeFactors = (f: LayerFactors) => {
  f.a.dispose();
  f.b.dispose();
  f.dense?.dispose();
};

/** Prepare, build at `rank`, dispose the plan. */
function build(
  method: typeof truncatedSvd,
  w: np.Array,
  rank: number,
  context: Parameters<typeof truncatedSvd.prepare>[1] = { module: "m" },
) {
  const plan = method.prepare(w.ref, context);
  const factors = plan.build(rank);
  const spectrum = plan.spectrum;
  plan.dispose();
  return { factors, spectrum };
}

describe("rank rules", () => {
  test("energy keeps the smallest rank reaching e·Σσ²; ratio rounds r·k", () => {
    const s = Float64Array.from([4, 3, 2, 1]); // σ² = 16, 9, 4, 1: cumulative 16, 25, 29, 30
    expect(ruleRank(s, { energy: 0.5 })).toBe(1); // 16/30 ≥ 0.5
    expect(ruleRank(s, { energy: 0.54 })).toBe(2); // 16/30 < 0.54 ≤ 25/30
    expect(ruleRank(s, { energy: 25 / 30 })).toBe(2);
    expect(ruleRank(s, { energy: 0.84 })).toBe(3);
    expect(ruleRank(s, { energy: 1 })).toBe(4);
    expect(ruleRank(Float64Array.from([2, 1, 0, 0]), { energy: 1 })).toBe(2);
    expect(ruleRank(s, { rankRatio: 0.5 })).toBe(2);
    expect(ruleRank(s, { rankRatio: 0.1 })).toBe(1);
    expect(ruleRank(s, { rankRatio: 1 })).toBe(4);
    expect(savesBytes(5, 24, 16)).toBe(true); // 200 < 384
    expect(savesBytes(10, 24, 16)).toBe(false); // 400 ≥ 384
  });

  test("bad rules name the option and the accepted values", () => {
    expect(() => checkRule({})).toThrow(/exactly one of rankRatio \(0 < r ≤ 1\) or energy/);
    expect(() => checkRule({ rankRatio: 0.5, energy: 0.9 })).toThrow(/exactly one/);
    expect(() => checkRule({ rankRatio: 0 })).toThrow(
      /rankRatio must be a number in \(0, 1\], got 0/,
    );
    expect(() => checkRule({ energy: 1.5 })).toThrow(
      /energy must be a number in \(0, 1\], got 1.5/,
    );
  });
});

describe("truncated SVD", () => {
  test("error equals the tail singular values (Eckart–Young), spectrum as built", async () => {
    const before = await liveBuffers();
    const w = withSingularValues(SIGMA, 1);
    for (const rank of [1, 5, 12]) {
      const { factors, spectrum } = build(truncatedSvd, w, rank);
      expect(factors.a.shape).toEqual([rank, IN]);
      expect(factors.b.shape).toEqual([OUT, rank]);
      expect(factors.a.dtype).toBe(np.float32);
      for (let i = 0; i < IN; i++) expect(spectrum[i]).toBeCloseTo(SIGMA[i], 4);
      const tail = SIGMA.slice(rank).reduce((s, v) => s + v * v, 0);
      expect(sq(residual(w, factors))).toBeCloseTo(tail, 3);
      disposeFactors(factors);
    }
    w.dispose();
    expect(await liveBuffers()).toBe(before);
  });
});

describe("CUR", () => {
  test("reconstructs a rank-4 matrix exactly from 4 of its rows and columns", () => {
    const w = np.matmul(gaussian([OUT, 4], 2), gaussian([4, IN], 3));
    const { factors, spectrum } = build(cur, w, 4);
    expect(spectrum[4] / spectrum[0]).toBeLessThan(1e-6);
    expect(Math.sqrt(sq(residual(w, factors)) / sq(w.ref))).toBeLessThan(1e-5);
    // A = R: every row of A is a row of W.
    const [a, wv] = [read(factors.a), read(w)];
    for (let t = 0; t < 4; t++) {
      const row = Array.from(a.subarray(t * IN, (t + 1) * IN));
      const found = Array.from({ length: OUT }, (_, i) =>
        Array.from(wv.subarray(i * IN, (i + 1) * IN)),
      );
      expect(found.some((r) => r.every((v, j) => v === row[j]))).toBe(true);
    }
    disposeFactors(factors);
    w.dispose();
  });
});

describe("FWSVD", () => {
  test("uniform Fisher gives truncated SVD; non-uniform minimises the row-weighted error", () => {
    const w = withSingularValues(SIGMA, 4);
    const svd = build(truncatedSvd, w, 4).factors;
    const uniform = build(fwsvd, w, 4, { module: "m", rowFisher: new Float64Array(OUT).fill(3) });
    const diff = read(
      np.matmul(svd.b.ref, svd.a.ref).sub(np.matmul(uniform.factors.b.ref, uniform.factors.a.ref)),
    );
    for (const v of diff) expect(Math.abs(v)).toBeLessThan(1e-5);
    // Rows weighted 1…24: FWSVD's weighted error is the tail of D W's spectrum and below SVD's.
    const fisher = Float64Array.from({ length: OUT }, (_, i) => (i + 1) ** 2);
    const weighted = build(fwsvd, w, 4, { module: "m", rowFisher: fisher });
    const d = np.array(Float32Array.from({ length: OUT }, (_, i) => i + 1)).reshape([OUT, 1]);
    const errFw = sq(residual(w, weighted.factors).mul(d.ref));
    const errSvd = sq(residual(w, svd).mul(d));
    const tail = Array.from(weighted.spectrum.slice(4)).reduce((s, v) => s + v * v, 0);
    expect(errFw).toBeCloseTo(tail, 2);
    expect(errFw).toBeLessThan(errSvd);
    for (const f of [svd, uniform.factors, weighted.factors]) disposeFactors(f);
    w.dispose();
  });

  test("refuses to run without the Fisher", () => {
    expect(() => fwsvd.prepare(np.ones([4, 4]), { module: "model.layers.0.mlp.up_proj" })).toThrow(
      /fwsvd needs the calibration Fisher \(model.layers.0.mlp.up_proj\)/,
    );
  });
});

describe("LQER and LQ-LoRA", () => {
  const quantize = rtnQuantizer({ bits: 4 });

  test("Q is on each row's symmetric 4-bit grid (step 2·absmax/15), within a step of W", () => {
    const w = gaussian([OUT, IN], 5);
    const quantized = quantize(w);
    const [q, wv] = [read(quantized.value), read(w)];
    expect(quantized.matrix.scales.length).toBe(OUT);
    for (let i = 0; i < OUT; i++) {
      const row = wv.subarray(i * IN, (i + 1) * IN);
      const step = Math.fround((2 * row.reduce((m, v) => Math.max(m, Math.abs(v)), 0)) / 15);
      for (let j = 0; j < IN; j++) {
        const code = q[i * IN + j] / step;
        expect(Math.abs(code - Math.round(code))).toBeLessThan(1e-4);
        expect(Math.round(code)).toBeGreaterThanOrEqual(-8);
        expect(Math.round(code)).toBeLessThanOrEqual(7);
        expect(Math.abs(q[i * IN + j] - row[j])).toBeLessThanOrEqual(step + 1e-6);
      }
    }
    w.dispose();
    quantized.value.dispose();
  });

  test("the low-rank correction beats RTN alone: plain in ‖·‖_F, scaled in the activation norm", async () => {
    const w = gaussian([OUT, IN], 6);
    const q = quantize(w).value;
    read(w); // realised, so the buffer count below sees only what the methods leave
    read(q);
    const before = await liveBuffers();
    const rtnError = sq(w.ref.sub(q.ref));
    const plain = build(lqer, w, 4, { module: "m", quantize });
    expect(read(plain.factors.dense!)).toEqual(read(q));
    const plainError = sq(residual(w, plain.factors));
    const tail = Array.from(plain.spectrum.slice(4)).reduce((s, v) => s + v * v, 0);
    expect(plainError).toBeCloseTo(tail, 3); // E's best rank-4 approximation removed
    expect(plainError).toBeLessThan(rtnError);

    const rms = Float64Array.from({ length: IN }, (_, j) => 0.1 + (j % 4));
    const scaled = build(lqer, w, 4, { module: "m", quantize, inputRms: rms });
    const d = np.array(Float32Array.from(rms)).reshape([1, IN]);
    const inNorm = (x: np.Array) => sq(x.mul(d.ref));
    const scaledError = inNorm(residual(w, scaled.factors));
    expect(scaledError).toBeLessThan(inNorm(w.ref.sub(q.ref)));
    expect(scaledError).toBeLessThan(inNorm(residual(w, plain.factors)));

    const lq = build(lqLora, w, 4, { module: "m", quantize, iterations: 4 });
    expect(sq(residual(w, lq.factors))).toBeLessThanOrEqual(plainError * (1 + 1e-6));
    for (const f of [plain.factors, scaled.factors, lq.factors]) disposeFactors(f);
    d.dispose();
    expect(await liveBuffers()).toBe(before);
    w.dispose();
    q.dispose();
  });
});

describe("WeLore", () => {
  test("one threshold over normalised spectra; layers that would not shrink stay dense", () => {
    const decaying = Float64Array.from({ length: 16 }, (_, i) => 8 * 0.5 ** i); // σ̂ = 1, ½, ¼, …
    const flat = new Float64Array(16).fill(3); // σ̂ = 1 for all
    const layers = [
      { spectrum: decaying, shape: [16, 16] as [number, number] },
      { spectrum: flat, shape: [16, 16] as [number, number] },
    ];
    // Keep 16 of 32 values: the threshold is σ̂ = 1, so the flat layer keeps all 16 (does not
    // shrink: dense) and the decaying one keeps 1.
    expect(weloreRanks(layers, { rankRatio: 0.5 })).toEqual([1, 0]);
    // Keep 20: sorted σ̂ are seventeen 1s, then ½, ¼, ⅛: threshold ⅛, the decaying layer keeps 4.
    expect(weloreRanks(layers, { rankRatio: 20 / 32 })).toEqual([4, 0]);
    // Energy: each layer's own rule (decaying: σ² ∝ 4^-i reaches 99% at rank 4; flat needs all 16).
    expect(weloreRanks(layers, { energy: 0.99 })).toEqual([4, 0]);
  });
});
