/**
 * IDInit and Scale-Distribution Decoupling (issue 17): the padded identity against its definition
 * (computed on the host), the identity transition through a chain of layers, the zero and noise
 * options; SDD's layer against a host RMSNorm(x Wᵀ)·g, its invariance to W's scale and the
 * resulting ⟨∇_W L, W⟩ = 0.
 */
import { grad, numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, test } from "vitest";
import { idinit, idinitDecoder, paddedIdentity } from "../../src/nn/init/idinit.js";
import { sddLinear, sddScale } from "../../src/nn/init/sdd.js";
import { initLlama } from "../../src/nn/llama.js";
import { llamaPreset } from "../../src/nn/llama-config.js";
import { validateConfig } from "../../src/train/config.js";
import { read, setup } from "../helpers/engine.js";

beforeAll(setup);

describe("IDInit", () => {
  test.each([
    [4, 4],
    [5, 3],
    [3, 5],
    [7, 2],
  ])("%i×%i: W_ij = [i mod n = j mod n]", (rows, cols) => {
    const n = Math.min(rows, cols);
    const w = read(paddedIdentity(rows, cols, 0.5));
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < cols; j++) expect(w[i * cols + j]).toBe(i % n === j % n ? 0.5 : 0);
  });

  test("a chain of widening and narrowing layers passes its input through", () => {
    const x = np.array(Float32Array.from([0.3, -1.2, 2.5]), { shape: [1, 3] });
    // 3 → 6 repeats x twice; 6 → 3 adds the two copies: 2x; a square layer keeps it.
    let h = np.matmul(x, paddedIdentity(6, 3).transpose());
    expect(Array.from(read(h.ref))).toEqual(
      Array.from(Float32Array.from([0.3, -1.2, 2.5, 0.3, -1.2, 2.5])),
    );
    h = np.matmul(h, paddedIdentity(3, 6).transpose());
    h = np.matmul(h, paddedIdentity(3, 3).transpose());
    read(h).forEach((v, i) => {
      expect(v).toBeCloseTo(2 * [0.3, -1.2, 2.5][i], 6);
    });
  });

  test("tree: matrices re-initialised, zero for named branches, noise with its spread, vectors kept", () => {
    const params = {
      up: np.ones([64, 32]),
      down_proj: np.ones([32, 64]),
      norm: np.full([32], 2),
    };
    const out: any = idinit(params, { noise: 0.01, seed: 3, zero: (p) => p.endsWith("down_proj") });
    const up = read(out.up);
    const noiseOf = (v: Float64Array, target: (k: number) => number) => {
      const d = Array.from(v, (x, k) => x - target(k));
      const mean = d.reduce((s, x) => s + x, 0) / d.length;
      const sd = Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / d.length);
      return { mean, sd };
    };
    const u = noiseOf(up, (k) => (Math.floor(k / 32) % 32 === k % 32 ? 1 : 0));
    expect(Math.abs(u.mean)).toBeLessThan((0.01 * 5) / Math.sqrt(2048));
    expect(u.sd).toBeGreaterThan(0.009);
    expect(u.sd).toBeLessThan(0.011);
    const down = noiseOf(read(out.down_proj), () => 0);
    expect(down.sd).toBeGreaterThan(0.009);
    expect(down.sd).toBeLessThan(0.011);
    expect(Array.from(read(out.norm))).toEqual(new Array(32).fill(2));
  });
});

describe("Scale-Distribution Decoupling", () => {
  const xs = Float32Array.from({ length: 2 * 4 }, (_, i) => Math.sin(1.3 * i + 0.2));
  const ws = Float32Array.from({ length: 3 * 4 }, (_, i) => Math.cos(0.7 * i) + 0.1);
  const gs = Float32Array.from([1.5, -0.5, 2]);
  const layer = (c: number, g = gs) =>
    read(
      sddLinear(
        np.array(xs, { shape: [2, 4] }),
        np.array(ws, { shape: [3, 4] }).mul(c),
        np.array(g),
      ),
    );

  test("g ⊙ RMSNorm(x Wᵀ), computed on the host", () => {
    const y = layer(1);
    for (let r = 0; r < 2; r++) {
      const h = [0, 1, 2].map((o) =>
        [0, 1, 2, 3].reduce((s, i) => s + xs[r * 4 + i] * ws[o * 4 + i], 0),
      );
      const rms = Math.sqrt(h.reduce((s, v) => s + v * v, 0) / 3 + 1e-6);
      h.forEach((v, o) => {
        expect(y[r * 3 + o]).toBeCloseTo((gs[o] * v) / rms, 5);
      });
    }
    expect(Array.from(read(sddScale(3)))).toEqual([1, 1, 1]);
  });

  test("the output ignores W's scale, so the gradient is orthogonal to W", () => {
    const base = layer(1);
    layer(7.5).forEach((v, k) => {
      expect(v).toBeCloseTo(base[k], 4);
    });
    const target = np.array(Float32Array.from([0.2, -1, 0.5, 1, 0, -0.3]), { shape: [2, 3] });
    const loss = (w: np.Array) => {
      const d = sddLinear(np.array(xs, { shape: [2, 4] }), w, np.array(gs)).sub(target.ref);
      return d.ref.mul(d).sum();
    };
    const gw = read(grad(loss)(np.array(ws, { shape: [3, 4] })));
    const inner = gw.reduce((s, g, k) => s + g * ws[k], 0);
    const scale =
      Math.sqrt(gw.reduce((s, g) => s + g * g, 0)) * Math.sqrt(ws.reduce((s, w) => s + w * w, 0));
    expect(Math.abs(inner) / scale).toBeLessThan(1e-4);
    target.dispose();
  });
});

describe("IDInit as the trainer's --init", () => {
  test("decoder: projections padded identities, residual ends zero, the rest untouched", () => {
    const config = llamaPreset("tiny", 40);
    const fresh = initLlama(config, 3);
    const keep = Object.fromEntries(
      Object.entries(fresh).map(([k, v]) => [k, Array.from(read(v as np.Array))]),
    );
    const out = idinitDecoder(fresh) as Record<string, np.Array>;
    for (const [path, leaf] of Object.entries(out)) {
      const values = read(leaf);
      if (/o_proj|down_proj/.test(path))
        expect(
          values.every((v) => v === 0),
          path,
        ).toBe(true);
      else if (/_proj\.weight$/.test(path)) {
        const [rows, cols] = leaf.shape;
        expect(Array.from(values), path).toEqual(Array.from(read(paddedIdentity(rows, cols))));
      } else expect(Array.from(values), path).toEqual(keep[path]);
    }
  });

  test("the config accepts hf and idinit and refuses anything else in one line", () => {
    expect(validateConfig({ init: "idinit" }).init).toBe("idinit");
    expect(validateConfig({}).init).toBeUndefined();
    expect(() => validateConfig({ init: "xavier" })).toThrow(
      /--init must be one of hf, idinit; got "xavier"/,
    );
  });
});
