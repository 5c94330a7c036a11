/**
 * Host (float64, plain JavaScript) references for the conversion and combination tests: seeded
 * numbers, matrices with known singular values (Householder reflections are orthogonal in
 * closed form), matmul, and LoRA adapters built from host data so that the expected ΔW is
 * computed here independently of src/peft.
 */
import { numpy as np } from "@jax-js/jax";
import type { LlamaParams } from "../../src/nn/llama.js";
import {
  type Adapter,
  type AdapterParams,
  adapterKeys,
  type LoraConfigInput,
  loraConfig,
  planAdapter,
  shapesOf,
} from "../../src/peft/index.js";

/** A host matrix, row-major. */
export interface Host {
  rows: number;
  cols: number;
  data: Float64Array;
}

/** Seeded numbers in [−1, 1) (a 32-bit LCG; rounded to float32 so device and host agree). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.fround(s / 2 ** 31 - 1);
  };
}

export function randomHost(rows: number, cols: number, next: () => number, scale = 1): Host {
  const data = new Float64Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = Math.fround(next() * scale);
  return { rows, cols, data };
}

export const toDevice = (h: Host): np.Array =>
  np.array(Float32Array.from(h.data), { shape: [h.rows, h.cols], dtype: np.float32 });

export const fromDevice = (a: np.Array): Host => ({
  rows: a.shape[0],
  cols: a.shape[1],
  data: Float64Array.from(a.ref.dataSync() as Float32Array),
});

export function matmul(a: Host, b: Host): Host {
  if (a.cols !== b.rows) throw new Error(`matmul ${a.rows}×${a.cols} · ${b.rows}×${b.cols}`);
  const out = new Float64Array(a.rows * b.cols);
  for (let i = 0; i < a.rows; i++)
    for (let k = 0; k < a.cols; k++) {
      const x = a.data[i * a.cols + k];
      for (let j = 0; j < b.cols; j++) out[i * b.cols + j] += x * b.data[k * b.cols + j];
    }
  return { rows: a.rows, cols: b.cols, data: out };
}

export const transpose = (a: Host): Host => {
  const out = new Float64Array(a.data.length);
  for (let i = 0; i < a.rows; i++)
    for (let j = 0; j < a.cols; j++) out[j * a.rows + i] = a.data[i * a.cols + j];
  return { rows: a.cols, cols: a.rows, data: out };
};

export const scale = (a: Host, s: number): Host => ({ ...a, data: a.data.map((x) => x * s) });

export const add = (a: Host, b: Host): Host => ({
  ...a,
  data: a.data.map((x, i) => x + b.data[i]),
});

export const frobenius = (a: Host): number => Math.sqrt(a.data.reduce((s, x) => s + x * x, 0));

/** ‖a − b‖_F / ‖b‖_F. */
export const relDiff = (a: Host, b: Host): number =>
  frobenius({ ...a, data: a.data.map((x, i) => x - b.data[i]) }) / frobenius(b);

/** The first `k` columns of the n×n Householder reflection I − 2vvᵀ/‖v‖² (orthonormal). */
export function orthonormalColumns(n: number, k: number, next: () => number): Host {
  const v = Array.from({ length: n }, () => next());
  const vv = v.reduce((s, x) => s + x * x, 0);
  const data = new Float64Array(n * k);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < k; j++) data[i * k + j] = (i === j ? 1 : 0) - (2 * v[i] * v[j]) / vv;
  return { rows: n, cols: k, data };
}

/** U·diag(σ)·Vᵀ for given orthonormal columns. */
export function withSingularValues(u: Host, sigma: number[], v: Host): Host {
  const us = { ...u, data: u.data.map((x, i) => x * sigma[i % u.cols]) };
  return matmul(us, transpose(v));
}

/** A LoRA adapter with host-known tensors (A, B and DoRA magnitudes seeded, saved copies too). */
export function hostLora(
  base: LlamaParams,
  input: LoraConfigInput,
  seed: number,
): { adapter: Adapter; host: Record<string, Host> } {
  const config = loraConfig(input);
  const plan = planAdapter(config, shapesOf(base));
  const next = rng(seed);
  const params: AdapterParams = {};
  const host: Record<string, Host> = {};
  const put = (key: string, h: Host, shape: number[]) => {
    host[key] = h;
    params[key] = toDevice(h).reshape(shape);
  };
  for (const m of plan.modules) {
    const k = adapterKeys(m);
    const [o, i] = m.shape;
    if (m.kind === "embedding") {
      put(k.a, randomHost(m.r, o, next, 0.5), [m.r, o]);
      put(k.b, randomHost(i, m.r, next, 0.5), [i, m.r]);
    } else {
      put(k.a, randomHost(m.r, i, next, 0.5), [m.r, i]);
      put(k.b, randomHost(o, m.r, next, 0.5), [o, m.r]);
      if (k.mag) {
        const mag = randomHost(1, o, next);
        mag.data = mag.data.map((x) => Math.fround(1 + 0.5 * x));
        put(k.mag, mag, [o]);
      }
    }
  }
  for (const s of plan.saved) {
    const shape = base[s].shape;
    const h = randomHost(shape.length === 1 ? 1 : shape[0], shape.at(-1) ?? 1, next);
    put(s, h, shape);
  }
  return { adapter: { config, params }, host };
}

/** The ΔW of one module of a host LoRA in the base layout (s·B·A, or s·(B·A)ᵀ for embeddings). */
export function hostDelta(
  base: LlamaParams,
  adapter: Adapter,
  host: Record<string, Host>,
  module: string,
): Host {
  const plan = planAdapter(adapter.config, shapesOf(base));
  const m = plan.modules.find((x) => x.name === module);
  if (!m) throw new Error(`no module ${module}`);
  const k = adapterKeys(m);
  const ba = scale(matmul(host[k.b], host[k.a]), m.scaling);
  if (m.kind === "embedding") return transpose(ba);
  if (!k.mag) return ba;
  const w = fromDevice(base[`${module}.weight`]);
  const v = add(w, ba);
  const out = new Float64Array(v.data.length);
  for (let r = 0; r < v.rows; r++) {
    let n = 0;
    for (let c = 0; c < v.cols; c++) n += v.data[r * v.cols + c] ** 2;
    const f = host[k.mag].data[r] / Math.sqrt(n);
    for (let c = 0; c < v.cols; c++)
      out[r * v.cols + c] = f * v.data[r * v.cols + c] - w.data[r * v.cols + c];
  }
  return { rows: v.rows, cols: v.cols, data: out };
}
