/**
 * Projectors and the pieces the trajectory fixture cannot pin down (randomness, invariants):
 * randomized SVD against the exact SVD, random projections (orthonormality, resampling, seeds,
 * Flora's unbiasedness), Grass sampling (unbiased), the DCT closed form against src/linalg,
 * INT4 basis storage, PowerSGD's error-feedback identity, FRUGAL's block mode against Adam and
 * signSGD, and non-finite gradients at a refresh.
 */
import { numpy as np, random } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { dctBasis } from "../../src/linalg/dct.js";
import { qr } from "../../src/linalg/qr.js";
import { applyUpdates } from "../../src/optim/core.js";
import { adam } from "../../src/optim/optimizers/adam.js";
import { frugal } from "../../src/optim/optimizers/frugal.js";
import { galore } from "../../src/optim/optimizers/galore.js";
import { dctColumns, dctProjector } from "../../src/optim/projection/dct.js";
import { grassProjector } from "../../src/optim/projection/grass.js";
import { onlinePcaProjector } from "../../src/optim/projection/online-pca.js";
import type { Projector } from "../../src/optim/projection/projector.js";
import { dequantizeBasis, quantizeBasis } from "../../src/optim/projection/q-galore.js";
import { randomProjector } from "../../src/optim/projection/random.js";
import { randomizedSvdProjector } from "../../src/optim/projection/randomized-svd.js";
import { svdProjector } from "../../src/optim/projection/svd.js";
import { powerSgd } from "../../src/optim/transforms/powersgd.js";
import { closeness, read, setup } from "../helpers/engine.js";

beforeAll(setup);

/** A dim × k matrix U diag(s) Vᵀ with s_i = 8·0.5^i (a clear gap after every index). */
function spectral(dim: number, k: number, seed: number): np.Array {
  const [k1, k2] = random.split(random.key(seed), 2);
  const r = Math.min(dim, k);
  const u = qr(random.normal(k1, [dim, r])).q;
  const v = qr(random.normal(k2, [k, r])).q;
  const s = np.array(Float32Array.from({ length: r }, (_, i) => 8 * 0.5 ** i));
  return np.matmul(u.mul(s.reshape([1, r])), v.transpose());
}

const ctx = (dim: number, cols: number, rank: number, seed = 0) => ({
  dim,
  cols,
  rank,
  seed,
  updateProjGap: 10,
});

function basisOf(p: Projector, g: np.Array, rank: number, seed = 0, draws = 1) {
  let state = p.init(ctx(g.shape[0], g.shape[1], rank, seed));
  const bases: Float64Array[] = [];
  for (let i = 0; i < draws; i++) {
    state = p.refresh(g.ref, state, i * 10);
    const q = p.basis(state);
    bases.push(read(q));
    q.dispose();
  }
  g.dispose();
  tree.dispose(state);
  return bases;
}

describe("svd-based projectors", () => {
  test("randomized SVD finds the exact SVD basis on a gradient with a spectral gap", () => {
    const g = spectral(120, 80, 1);
    const exact = basisOf(svdProjector(), g.ref, 4)[0];
    const approx = basisOf(randomizedSvdProjector({ oversample: 8, powerIters: 3 }), g, 4)[0];
    expect(closeness(approx, exact, 0, 1e-4).ratio).toBeLessThanOrEqual(1);
  });

  test("svd basis: orthonormal, sign-normalised columns of the top singular subspace", () => {
    const g = spectral(40, 30, 2);
    const q = np.array(Float32Array.from(basisOf(svdProjector(), g.ref, 3)[0]), { shape: [40, 3] });
    const gram = read(np.matmul(q.ref.transpose(), q.ref));
    expect(closeness(gram, [1, 0, 0, 0, 1, 0, 0, 0, 1], 0, 1e-5).ratio).toBeLessThanOrEqual(1);
    // Largest-magnitude entry of each column is positive.
    const data = read(q.ref);
    for (let c = 0; c < 3; c++) {
      let best = 0;
      for (let i = 0; i < 40; i++)
        if (Math.abs(data[i * 3 + c]) > Math.abs(best)) best = data[i * 3 + c];
      expect(best).toBeGreaterThan(0);
    }
    // The basis captures the top-3 energy: ‖QᵀG‖² = 64 + 16 + 4.
    const low = np.matmul(q.transpose(), g);
    expect(read(low.ref.mul(low).sum())[0]).toBeCloseTo(84, 3);
  });

  test("a NaN gradient at a refresh keeps the previous basis (no throw)", () => {
    const opt = galore({ rank: 2, updateProjGap: 2, learningRate: 0.1 });
    const w = spectral(8, 6, 3);
    let state = opt.init({ w: w.ref });
    let [u, next] = opt.update({ w: spectral(8, 6, 4) }, state, { w: w.ref });
    tree.dispose(u);
    state = next;
    [u, next] = opt.update({ w: spectral(8, 6, 5) }, state, { w: w.ref });
    tree.dispose(u);
    state = next;
    // galore's state: chain [matrixOrFallback {matrix: scaleByGalore's}, learning rate].
    const basis = (s: any) => s[0].matrix.subspaces.w.right.q;
    const before = read(basis(state));
    const bad = spectral(8, 6, 6).mul(np.array([[1, 1, 1, 1, 1, Number.NaN]]));
    [u, next] = opt.update({ w: bad }, state, { w });
    expect(read(basis(state))).toEqual(before);
    expect(Number.isNaN(read((u as any).w)[5])).toBe(true);
    tree.dispose(u);
    tree.dispose(next);
  });
});

describe("random projectors", () => {
  test("GoLore: orthonormal, resampled at each refresh, reproducible per seed", () => {
    const g = np.zeros([50, 20]);
    const [a1, a2] = basisOf(randomProjector(), g.ref, 5, 7, 2);
    const [b1] = basisOf(randomProjector(), g.ref, 5, 7, 1);
    const [c1] = basisOf(randomProjector(), g, 5, 8, 1);
    expect(a1).toEqual(b1);
    expect(closeness(a1, a2, 0, 1e-3).ratio).toBeGreaterThan(1);
    expect(closeness(a1, c1, 0, 1e-3).ratio).toBeGreaterThan(1);
    const q = np.array(Float32Array.from(a2), { shape: [50, 5] });
    const gram = read(np.matmul(q.ref.transpose(), q));
    const eye = Array.from({ length: 25 }, (_, i) => (i % 6 === 0 ? 1 : 0));
    expect(closeness(gram, eye, 0, 1e-5).ratio).toBeLessThanOrEqual(1);
  });

  test("Flora: Gaussian bases with E[Q Qᵀ] = I", () => {
    const [dim, r, draws] = [16, 4, 60];
    const bases = basisOf(randomProjector({ orthogonal: false }), np.zeros([dim, 8]), r, 3, draws);
    let diag = 0;
    let off = 0;
    for (const q of bases) {
      for (let i = 0; i < dim; i++) {
        for (let j = 0; j < dim; j++) {
          let dot = 0;
          for (let c = 0; c < r; c++) dot += q[i * r + c] * q[j * r + c];
          if (i === j) diag += dot;
          else off += dot;
        }
      }
    }
    expect(diag / (draws * dim)).toBeCloseTo(1, 1);
    expect(Math.abs(off / (draws * dim * (dim - 1)))).toBeLessThan(0.05);
  });
});

describe("selection projectors", () => {
  test("Grass top-r selects the rows of largest norm, in decreasing order", () => {
    const norms = [1, 5, 2, 9, 3, 0.5];
    const g = np.array(Float32Array.from(norms.flatMap((n) => [n, 0, 0])), { shape: [6, 3] });
    const q = basisOf(grassProjector(), g, 3)[0];
    const picked = [0, 1, 2].map((c) => [0, 1, 2, 3, 4, 5].find((i) => q[i * 3 + c] === 1));
    expect(picked).toEqual([3, 1, 4]);
  });

  test("Grass multinomial sampling is unbiased: E[Q Qᵀ] = I", () => {
    const norms = [1, 1.5, 1.2, 2, 0.8, 1.1];
    const g = np.array(Float32Array.from(norms.flatMap((n) => [n, -n])), { shape: [6, 2] });
    const draws = 300;
    const bases = basisOf(grassProjector({ selection: "multinomial" }), g, 4, 5, draws);
    const mean = new Float64Array(6);
    for (const q of bases) {
      for (let i = 0; i < 6; i++) for (let c = 0; c < 4; c++) mean[i] += q[i * 4 + c] ** 2 / draws;
    }
    for (const m of mean) expect(Math.abs(m - 1)).toBeLessThan(0.35);
  });

  test("DCT columns match src/linalg's DCT-II basis, also for large sizes", () => {
    for (const d of [7, 1024]) {
      const index = np.array([0, 1, 5, d - 1], { dtype: np.int32 });
      const ours = read(dctColumns(d, index.ref));
      const full = dctBasis(d);
      const expected = read(np.take(full, index, 0).transpose());
      expect(closeness(ours, expected, 0, 2e-6).ratio).toBeLessThanOrEqual(1);
    }
  });

  test("DCT refresh keeps the basis vectors best aligned with the gradient", () => {
    const d = 32;
    const c = dctBasis(d);
    // G = 5·c₇ xᵀ + 2·c₃ yᵀ + small noise on every row.
    const rows = np.take(c, np.array([7, 3], { dtype: np.int32 }), 0).transpose();
    const coef = np.array([
      [5, 0, 1, 2],
      [0, 2, 1, -1],
    ]);
    const g = np.matmul(rows, coef).add(random.normal(random.key(9), [d, 4]).mul(0.01));
    const p = dctProjector();
    const state = p.refresh(g, p.init(ctx(d, 4, 2)), 0);
    expect(read(state.index)).toEqual(Float64Array.from([7, 3]));
    expect(state.index.dtype).toBe("int32");
    tree.dispose(state);
  });

  test("online PCA moves its basis towards a new gradient subspace", () => {
    const p = onlinePcaProjector({ learningRate: 0.05 });
    let state = p.init(ctx(20, 10, 2));
    state = p.refresh(spectral(20, 10, 11), state, 0);
    const target = spectral(20, 10, 12);
    const error = () => {
      const q = p.basis(state);
      const resid = np.matmul(q.ref, np.matmul(q.transpose(), target.ref)).sub(target.ref);
      return read(resid.ref.mul(resid).sum())[0];
    };
    const start = error();
    for (let step = 1; step <= 40; step++) state = p.track!(target.ref, state, step);
    expect(error()).toBeLessThan(0.5 * start);
    target.dispose();
    tree.dispose(state);
  });
});

describe("INT4 basis storage (Q-GaLore)", () => {
  test("round trip within half a step per group; 8 codes per uint32 word", () => {
    const x = random.normal(random.key(4), [37, 3]).mul(0.3);
    const data = read(x.ref);
    const q = quantizeBasis(x, 4, 16);
    expect(q.codes.dtype).toBe("uint32");
    expect(q.codes.size).toBe((Math.ceil(111 / 16) * 16) / 8);
    const back = read(dequantizeBasis(q, 4));
    const scales = read(q.scales);
    for (let i = 0; i < data.length; i++) {
      const s = scales[Math.floor(i / 16)];
      expect(Math.abs(back[i] - data[i])).toBeLessThanOrEqual(s / 2 + 1e-6);
    }
    tree.dispose(q);
  });
});

describe("PowerSGD", () => {
  test("error feedback: the outputs plus the final error sum to the inputs", () => {
    const opt = powerSgd({ rank: 1, seed: 3 });
    let state = opt.init({ w: np.zeros([9, 7]), b: np.zeros([7]) });
    expect(state.sentFloats).toBe(1 * (9 + 7) + 7);
    let sumIn = np.zeros([9, 7]);
    let sumOut = np.zeros([9, 7]);
    for (let step = 0; step < 6; step++) {
      const g = spectral(9, 7, 20 + step);
      sumIn = sumIn.add(g.ref);
      const [u, next] = opt.update({ w: g, b: np.ones([7]) }, state);
      state = next;
      sumOut = sumOut.add((u as any).w);
      expect(read((u as any).b)).toEqual(Float64Array.from({ length: 7 }, () => 1));
      tree.dispose((u as any).b);
    }
    const total = read(sumOut.add(state.leaves.w.error.ref));
    expect(closeness(total, read(sumIn), 1e-5, 1e-5).ratio).toBeLessThanOrEqual(1);
    tree.dispose(state);
  });

  test("at full rank the compression is lossless", () => {
    const opt = powerSgd({ rank: 5 });
    const state = opt.init({ w: np.zeros([8, 5]) });
    const g = spectral(8, 5, 30);
    const expected = read(g.ref);
    const [u, next] = opt.update({ w: g }, state);
    expect(closeness(read((u as any).w), expected, 1e-4, 1e-5).ratio).toBeLessThanOrEqual(1);
    tree.dispose(u);
    tree.dispose(next);
  });
});

describe("FRUGAL blocks", () => {
  test("active blocks take Adam steps (fresh per window), the others signSGD", () => {
    const lr = 0.01;
    const opt = frugal({ mode: "blocks", density: 0.5, updateProjGap: 2, learningRate: lr });
    const shapes = { a: [5, 4], c: [4, 6] };
    let params: any = { a: spectral(5, 4, 40), c: spectral(4, 6, 41) };
    let state = opt.init(tree.ref(params));
    // Reference Adam for each window: a in steps 0–1, c in steps 2–3, a again in 4–5.
    const windows: ["a" | "c", number][] = [
      ["a", 0],
      ["c", 2],
      ["a", 4],
    ];
    for (const [active, start] of windows) {
      const ref = adam({ learningRate: lr });
      let refState = ref.init({ x: np.zeros(shapes[active]) });
      for (let step = start; step < start + 2; step++) {
        const grads = { a: spectral(5, 4, 100 + step), c: spectral(4, 6, 200 + step) };
        const inactive = active === "a" ? "c" : "a";
        const expectedFree = read(np.sign(grads[inactive].ref).mul(-lr));
        const [refU, refNext] = ref.update({ x: grads[active].ref }, refState);
        refState = refNext;
        const expectedAdam = read((refU as any).x);
        const [u, next] = opt.update(grads, state, tree.ref(params));
        state = next;
        expect(
          closeness(read((u as any)[active]), expectedAdam, 1e-5, 1e-7).ratio,
        ).toBeLessThanOrEqual(1);
        expect(read((u as any)[inactive])).toEqual(expectedFree);
        params = applyUpdates(params, u);
      }
      tree.dispose(refState);
    }
    tree.dispose(params);
    tree.dispose(state);
  });
});
