/**
 * Editing by projection (src/weights/edit/) against closed-form cases:
 * - POME: ΔW = U diag(σ) Vᵀ built from known orthonormal factors becomes U_k diag(σ̄) V_kᵀ (and
 *   the Frobenius and spectral levels, rank/energy/ratio choices);
 * - GU: the projected update is orthogonal to every retain gradient, equals the plain update
 *   when the retain gradients are orthogonal to it, and removes exactly the tangential part;
 * - INLP: P is an orthogonal projector that fixes vectors orthogonal to the removed directions,
 *   and a fresh probe on projected, linearly separable synthetic data is at chance;
 * - the stored projection (model.layers.L.inlp_projection): block L's output times P, the
 *   identity changing nothing; INLP on a model stores a projector after which a fresh probe on
 *   the model's own states is at chance; a wrong shape is refused;
 * - DAMA: on a pair set whose output differences are rank one, the projection zeroes the gap;
 *   the default layers are the mid-upper ones.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { float64Array } from "../../src/engine/float64.js";
import { Xoshiro128 } from "../../src/engine/rng.js";
import { qr } from "../../src/linalg/index.js";
import { checkLlamaParams, initLlama, llamaBlock, llamaForward } from "../../src/nn/llama.js";
import { llamaConfig } from "../../src/nn/llama-config.js";
import { biasDirections, damaDefaultLayers, projectOutputs } from "../../src/weights/edit/dama.js";
import { projectNormal, retainBasis } from "../../src/weights/edit/gu-projection.js";
import { pooledStates } from "../../src/weights/edit/hidden.js";
import {
  inlp,
  linearProbe,
  nullspaceProjection,
  projectRows,
} from "../../src/weights/edit/inlp.js";
import { inlpModel } from "../../src/weights/edit/inlp-model.js";
import { pomeDelta } from "../../src/weights/edit/pome.js";
import { liveBuffers, read, setup } from "../helpers/engine.js";

beforeAll(setup);

/** Deterministic standard normals (Box–Muller over xoshiro128**). */
function normals(n: number, seed: number): Float64Array {
  const rng = Xoshiro128.fromSeed(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = (rng.below(2 ** 30) + 1) / (2 ** 30 + 1);
    const v = rng.below(2 ** 30) / 2 ** 30;
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

/** An m×k matrix with orthonormal columns (QR of a random matrix), row-major float64. */
function orthonormal(m: number, k: number, seed: number): Float64Array {
  const { q, r } = qr(float64Array(normals(m * k, seed), [m, k]));
  r.dispose();
  return read(q);
}

/** A (m×k) diag(s) Bᵀ (B n×k), row-major. */
function compose(a: Float64Array, s: number[], b: Float64Array, m: number, n: number) {
  const k = s.length;
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let v = 0;
      for (let t = 0; t < k; t++) v += a[i * k + t] * s[t] * b[j * k + t];
      out[i * n + j] = v;
    }
  }
  return out;
}

const f32 = (x: Float64Array, shape: number[]) =>
  np.array(Float32Array.from(x), { shape, dtype: np.float32 });

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe("POME", () => {
  const m = 24;
  const n = 16;
  const sigma = [8, 5, 3, 2, 1, 0.5];
  let u: Float64Array;
  let v: Float64Array;
  beforeAll(() => {
    u = orthonormal(m, 6, 1);
    v = orthonormal(n, 6, 2);
  });
  const delta = () => f32(compose(u, sigma, v, m, n), [m, n]);

  test("default (ratio 0.5, mean level): U_3 diag(σ̄) V_3ᵀ", () => {
    const [out, info] = pomeDelta(delta());
    expect(info).toMatchObject({ rank: 3, fullRank: 6 });
    const mean = (8 + 5 + 3) / 3;
    expect(info.level).toBeCloseTo(mean, 5);
    const expected = compose(
      u.filter((_, i) => i % 6 < 3),
      [mean, mean, mean],
      v.filter((_, i) => i % 6 < 3),
      m,
      n,
    );
    expect(maxAbsDiff(read(out), expected)).toBeLessThan(2e-5 * mean);
    out.dispose();
  });

  test("rank, energy, Frobenius and spectral levels, scale", () => {
    const [a, ia] = pomeDelta(delta(), { rank: 2, norm: "frobenius", scale: 0.5 });
    const level = 0.5 * Math.sqrt((64 + 25) / 2);
    expect(ia.level).toBeCloseTo(level, 4);
    const ua = u.filter((_, i) => i % 6 < 2);
    const va = v.filter((_, i) => i % 6 < 2);
    expect(maxAbsDiff(read(a), compose(ua, [level, level], va, m, n))).toBeLessThan(1e-4);
    a.dispose();
    // Σσ² = 103.25; 0.9 of it needs 8² + 5² + 3² = 98 (three pairs).
    const [b, ib] = pomeDelta(delta(), { energy: 0.9, norm: "spectral" });
    expect(ib.rank).toBe(3);
    expect(ib.level).toBeCloseTo(8, 4);
    b.dispose();
    const [z, iz] = pomeDelta(np.zeros([m, n], { dtype: np.float32 }));
    expect(iz.rank).toBe(0);
    expect(read(z).every((x) => x === 0)).toBe(true);
    z.dispose();
  });

  test("bad options are named", () => {
    expect(() => pomeDelta(delta(), { rank: 2, energy: 0.5 })).toThrow(
      /one of rank, energy, ratio/,
    );
    expect(() => pomeDelta(delta(), { ratio: 1.5 })).toThrow(/ratio must be a number in \(0, 1\]/);
  });
});

describe("GU projection", () => {
  const tree = (x: Float64Array) => ({
    a: f32(x.subarray(0, 12), [3, 4]),
    b: f32(x.subarray(12, 20), [8]),
  });
  const flat = (t: Record<string, np.Array>) => [...read(t.a), ...read(t.b)];
  const dot = (x: number[], y: ArrayLike<number>) => x.reduce((s, v, i) => s + v * y[i], 0);

  test("orthogonal to every retain gradient; the tangential part is removed exactly", async () => {
    const before = await liveBuffers();
    const g = [normals(20, 3), normals(20, 4), normals(20, 5)];
    const u = normals(20, 6);
    const basis = retainBasis(g.map(tree));
    expect(basis.shape).toEqual([20, 3]);
    const out = projectNormal(tree(u), basis);
    const p = flat(out);
    for (const gi of g) expect(Math.abs(dot(p, gi))).toBeLessThan(1e-5 * Math.sqrt(dot([...u], u)));
    // u − p lies in span(G): it is fixed by the projector Q Qᵀ.
    const q = read(basis);
    const diff = [...u].map((x, i) => x - p[i]);
    const coeff = [0, 1, 2].map((j) => diff.reduce((s, x, i) => s + x * q[i * 3 + j], 0));
    const back = diff.map((_, i) => coeff.reduce((s, c, j) => s + c * q[i * 3 + j], 0));
    expect(maxAbsDiff(back, diff)).toBeLessThan(1e-5);
    basis.dispose();
    for (const a of Object.values(out)) a.dispose();
    expect(await liveBuffers()).toBe(before);
  });

  test("equals the plain update when the retain gradients are orthogonal to it", () => {
    const q = orthonormal(20, 4, 7); // columns 0..2 span the retain gradients, column 3 is u
    const col = (j: number) => Float64Array.from({ length: 20 }, (_, i) => q[i * 4 + j]);
    const g = [col(0), col(1).map((x, i) => x + 2 * col(2)[i]), col(2)];
    const u = col(3).map((x) => 3 * x);
    const basis = retainBasis(g.map(tree));
    const out = projectNormal(tree(u), basis);
    expect(maxAbsDiff(flat(out), u)).toBeLessThan(1e-6);
    basis.dispose();
    for (const a of Object.values(out)) a.dispose();
  });

  test("dependent retain gradients add no direction", () => {
    const g = normals(20, 8);
    const basis = retainBasis([tree(g), tree(g.map((x) => 2 * x))]);
    expect(basis.shape).toEqual([20, 1]);
    basis.dispose();
  });
});

describe("INLP", () => {
  const d = 12;
  const n = 400;
  // Labels carried along two directions with different strengths, plus isotropic noise.
  function data() {
    const noise = normals(n * d, 11);
    const dirs = orthonormal(d, 2, 12);
    const labels = new Int32Array(n);
    const x = new Float64Array(n * d);
    for (let i = 0; i < n; i++) {
      labels[i] = i % 3 === 0 ? 1 : 0; // majority 2/3
      const s = labels[i] === 1 ? 1 : -1;
      for (let k = 0; k < d; k++) {
        x[i * d + k] = 0.5 * noise[i * d + k] + s * (2 * dirs[k * 2] + 1 * dirs[k * 2 + 1]);
      }
    }
    return { x, labels, dirs };
  }

  test("P is an orthogonal projector fixing the orthogonal complement", () => {
    const { x, labels } = data();
    const r = inlp(x, labels, d, 2, { iterations: 6 });
    expect(r.rank).toBeGreaterThan(0);
    const p = nullspaceProjection(r.basis, d);
    const pp = new Float64Array(d * d);
    for (let i = 0; i < d; i++)
      for (let j = 0; j < d; j++)
        for (let k = 0; k < d; k++) pp[i * d + j] += p[i * d + k] * p[k * d + j];
    expect(maxAbsDiff(pp, p)).toBeLessThan(1e-12);
    for (let i = 0; i < d; i++)
      for (let j = 0; j < d; j++) expect(p[i * d + j]).toBeCloseTo(p[j * d + i], 14);
    // trace P = d − rank; a vector orthogonal to the basis is unchanged.
    let trace = 0;
    for (let i = 0; i < d; i++) trace += p[i * d + i];
    expect(trace).toBeCloseTo(d - r.rank, 10);
    const v = normals(d, 13);
    const b = r.basis;
    const rank = r.rank;
    for (let j = 0; j < rank; j++) {
      let c = 0;
      for (let k = 0; k < d; k++) c += v[k] * b[k * rank + j];
      for (let k = 0; k < d; k++) v[k] -= c * b[k * rank + j];
    }
    const pv = Array.from({ length: d }, (_, i) => v.reduce((s, x, k) => s + p[i * d + k] * x, 0));
    expect(maxAbsDiff(pv, v)).toBeLessThan(1e-12);
  });

  test("a fresh probe on the projected states is at chance", () => {
    const { x, labels } = data();
    const first = linearProbe(x, labels, d, 2);
    expect(first.accuracy).toBeGreaterThan(0.95); // separable before
    const r = inlp(x, labels, d, 2, { iterations: 10 });
    expect(r.accuracies[0]).toBeCloseTo(first.accuracy, 10);
    expect(r.accuracies.at(-1)).toBeLessThanOrEqual(r.majority + 0.02);
    // Fresh probes of a different regularisation on the projected data: at chance.
    const projected = projectRows(x, n, d, r.basis);
    for (const ridge of [1e-6, 1e-1]) {
      const fresh = linearProbe(projected, labels, d, 2, ridge);
      expect(fresh.accuracy).toBeLessThanOrEqual(fresh.majority + 0.05);
    }
  });

  test("three classes: one-hot probes remove up to two directions per round", () => {
    const noise = normals(n * d, 21);
    const dirs = orthonormal(d, 3, 22);
    const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
    const x = noise.map((v, t) => {
      const i = Math.floor(t / d);
      return 0.5 * v + 2 * dirs[(t % d) * 3 + labels[i]];
    });
    const r = inlp(x, labels, d, 3, { iterations: 10 });
    expect(r.accuracies[0]).toBeGreaterThan(0.9);
    // Centred one-hot targets have rank 2: each round removes two directions.
    expect(r.rank % 2).toBe(0);
    const fresh = linearProbe(projectRows(x, n, d, r.basis), labels, d, 3);
    expect(fresh.accuracy).toBeLessThanOrEqual(fresh.majority + 0.05);
  });
});

describe("DAMA", () => {
  test("a rank-one output gap is removed; other directions of W are kept", () => {
    const d = 10;
    const f = 7;
    const n = 5;
    const dir = orthonormal(d, 1, 31);
    const scales = [1, -2, 0.5, 3, 1.5];
    const diffs = new Float64Array(n * d);
    for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) diffs[i * d + k] = scales[i] * dir[k];
    const basis = biasDirections(diffs, n, d, 3);
    expect(basis.length).toBe(d); // rank 1 however many asked
    const cos = Math.abs(basis.reduce((s, b, k) => s + b * dir[k], 0));
    expect(cos).toBeCloseTo(1, 6);
    const w = normals(d * f, 32);
    const out = read(projectOutputs(f32(w, [d, f]), basis));
    // dirᵀ W' = 0, and W' = W − dir dirᵀ W.
    for (let j = 0; j < f; j++) {
      let c = 0;
      let cw = 0;
      for (let k = 0; k < d; k++) {
        c += dir[k] * out[k * f + j];
        cw += dir[k] * w[k * f + j];
      }
      expect(Math.abs(c)).toBeLessThan(1e-5);
      for (let k = 0; k < d; k++) expect(out[k * f + j]).toBeCloseTo(w[k * f + j] - dir[k] * cw, 5);
    }
  });

  test("default layers are the mid-upper ones", () => {
    expect(damaDefaultLayers(32)).toEqual([21, 22, 23, 24, 25, 26, 27, 28]);
    expect(damaDefaultLayers(4)).toEqual([2, 3]);
    expect(damaDefaultLayers(2)).toEqual([1]);
  });
});

describe("INLP in the decoder", () => {
  const config = llamaConfig({
    vocab_size: 32,
    hidden_size: 8,
    intermediate_size: 16,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    max_position_embeddings: 16,
  });
  const tokens = () =>
    np.array(
      Int32Array.from({ length: 12 }, (_, i) => (i * 7) % 32),
      {
        shape: [2, 6],
        dtype: np.int32,
      },
    );
  const name = "model.layers.0.inlp_projection";

  test("block L's output is multiplied by the stored projection; identity changes nothing", () => {
    const params = initLlama(config, 3);
    const plain = read(llamaForward({ ...params, ...refs(params) }, tokens(), config));
    const eye = np.eye(8, 8, { dtype: np.float32 });
    const same = read(llamaForward({ ...refs(params), [name]: eye }, tokens(), config));
    expect(maxAbsDiff(same, plain)).toBeLessThan(1e-6);
    const basis = orthonormal(8, 3, 41);
    const p = nullspaceProjection(basis, 8);
    const x = () => np.array(Float32Array.from(normals(2 * 5 * 8, 42)), { shape: [2, 5, 8] });
    const block = (extra: Record<string, np.Array>) =>
      read(llamaBlock({ ...blockRefs(params, 0), ...extra }, x(), 0, config));
    const out = block({});
    const projected = block({ [name]: f32(p, [8, 8]) });
    for (let r = 0; r < 10; r++) {
      for (let i = 0; i < 8; i++) {
        let v = 0;
        for (let k = 0; k < 8; k++) v += out[r * 8 + k] * p[k * 8 + i];
        expect(projected[r * 8 + i]).toBeCloseTo(v, 5);
      }
    }
    const wrong = np.zeros([8, 4], { dtype: np.float32 });
    expect(() => checkLlamaParams({ ...params, [name]: wrong }, config)).toThrow(
      /inlp_projection has shape \[8,4\], expected \[8,8\]/,
    );
    wrong.dispose();
    for (const a of Object.values(params)) a.dispose();
  });

  test("inlpModel stores a projector after which the model's own states carry no label", () => {
    const params = initLlama(config, 5);
    const texts = Array.from({ length: 60 }, (_, i) =>
      Int32Array.from({ length: 4 }, (_, t) =>
        t === 3 ? (i % 2 ? 30 : 31) : (i * 3 + t * 5) % 29,
      ),
    );
    const labels = Int32Array.from({ length: 60 }, (_, i) => i % 2);
    const opts = { layer: 0, pool: "last" as const, at: "residual" as const };
    expect(linearProbe(pooledStates(params, config, texts, opts), labels, 8, 2).accuracy).toBe(1);
    const { params: edited, result } = inlpModel(params, config, texts, labels, 2, {
      layer: 0,
      pool: "last",
      iterations: 8,
    });
    expect(result.rank).toBeGreaterThan(0);
    expect(read(edited[name])).toEqual(
      Float64Array.from(Float32Array.from(nullspaceProjection(result.basis, 8))),
    );
    const after = linearProbe(pooledStates(edited, config, texts, opts), labels, 8, 2);
    expect(after.accuracy).toBeLessThanOrEqual(after.majority + 2 * Math.sqrt(0.25 / 60));
    for (const a of Object.values(edited)) a.dispose();
  });
});

const refs = (params: Record<string, np.Array>) =>
  Object.fromEntries(Object.entries(params).map(([k, a]) => [k, a.ref]));
const blockRefs = (params: Record<string, np.Array>, i: number) =>
  Object.fromEntries(
    Object.entries(params)
      .filter(([k]) => k.startsWith(`model.layers.${i}.`))
      .map(([k, a]) => [k, a.ref]),
  );
