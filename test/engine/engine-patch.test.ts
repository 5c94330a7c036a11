/**
 * The local patch to the pinned jax-js (patches/@jax-js+jax+0.1.25.patch, applied by
 * patch-package at `npm ci`): what it changes is observable here, and values are unchanged.
 * - A matmul whose operand is a broadcast of computed values reads that operand already
 *   materialised, instead of recomputing the elementwise chain inside its loop (seen in the
 *   kernel trace: in the case below its kernel reads 6 arrays unpatched, 2 patched).
 * - A compiled program runs its kernels as it reaches them (in Node, on wasm), so each
 *   intermediate is freed at its last use rather than held until an output is read.
 * - A compiled program's second call compiles and instantiates nothing new.
 * - A reshape of a materialised value that two kernels read is read through, not copied first.
 */
import { jit, nn, numpy as np, profiler, valueAndGrad } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { liveBuffers, setup } from "../helpers/engine.js";

beforeAll(setup);

interface TracedKernel {
  name: string;
  nargs: number;
  reduction?: string;
}

/** Kernels dispatched by `run` (1 thread: dispatch is synchronous, so all are traced). */
function traceKernels(run: () => void): TracedKernel[] {
  performance.clearMeasures();
  profiler.startTrace();
  try {
    run();
  } finally {
    profiler.stopTrace();
  }
  const kernels = (performance.getEntriesByType("measure") as PerformanceMeasure[]).map((m) => {
    const detail = m.detail as { devtools?: { properties?: [string, string][] } } | null;
    const props = Object.fromEntries(detail?.devtools?.properties ?? []);
    return { name: m.name, nargs: Number(props.nargs), reduction: props.reduction };
  });
  performance.clearMeasures();
  return kernels;
}

// An embedding as the model computes it (one-hot matmul), followed by an RMS normalisation, so
// that the table's gradient is onehotᵀ @ (an elementwise chain of the normalisation's backward).
const loss = (table: np.Array, tokens: np.Array, weight: np.Array) => {
  const x = np.matmul(nn.oneHot(tokens, table.shape[0]), table);
  const normed = x.ref.div(np.sqrt(np.square(x).mean(-1, { keepdims: true }).add(1e-6)));
  return normed.mul(weight).sum();
};

describe("jax-js patch", () => {
  it("materialises a broadcast matmul operand instead of fusing its producer", async () => {
    const [vocab, hidden, n] = [12, 8, 64];
    const table = np
      .array(Array.from({ length: vocab * hidden }, (_, i) => Math.sin(i)))
      .reshape([vocab, hidden]);
    const tokens = np.array(
      Array.from({ length: n }, (_, i) => (i * 5) % vocab),
      { dtype: np.int32 },
    );
    const weight = np
      .array(Array.from({ length: n * hidden }, (_, i) => Math.cos(i)))
      .reshape([n, hidden]);
    const step = jit(valueAndGrad(loss));
    const warm = step(table.ref, tokens.ref, weight.ref);
    await warm[1].data();
    warm[0].dispose();
    let result: [np.Array, np.Array] | undefined;
    const kernels = traceKernels(() => {
      result = step(table.ref, tokens.ref, weight.ref) as unknown as [np.Array, np.Array];
      result[1].ref.dataSync();
    });
    const [value, grad] = result!;
    // The table's gradient: a [vocab, hidden] kernel reducing over the n tokens.
    const tableGrad = kernels.filter(
      (k) => k.name === `Kernel[${vocab * hidden}]` && k.reduction === `Add:${n}`,
    );
    expect(tableGrad.length).toBe(1);
    expect(tableGrad[0].nargs).toBeLessThanOrEqual(2);

    // Values: the gradient in closed form, row v = Σ over tokens t = v of the normalisation's
    // backward (w/r − x (x·w) / (d r³)), r = sqrt(mean x² + eps).
    const E = Array.from({ length: vocab * hidden }, (_, i) => Math.sin(i));
    const W = Array.from({ length: n * hidden }, (_, i) => Math.cos(i));
    const expected = new Float64Array(vocab * hidden);
    let expectedLoss = 0;
    for (let t = 0; t < n; t++) {
      const v = (t * 5) % vocab;
      const x = E.slice(v * hidden, (v + 1) * hidden);
      const w = W.slice(t * hidden, (t + 1) * hidden);
      const r = Math.sqrt(x.reduce((a, b) => a + b * b, 0) / hidden + 1e-6);
      const xw = x.reduce((a, b, j) => a + b * w[j], 0);
      expectedLoss += xw / r;
      for (let j = 0; j < hidden; j++) {
        expected[v * hidden + j] += w[j] / r - (x[j] * xw) / (hidden * r ** 3);
      }
    }
    expect((await value.data())[0]).toBeCloseTo(expectedLoss, 3);
    const got = await grad.data();
    for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(expected[i], 4);
    step.dispose();
    table.dispose();
    tokens.dispose();
    weight.dispose();
  });

  it("reads a reshaped matmul result in place from two reductions, without a copy", async () => {
    const [m, k, n] = [8, 6, 16];
    const a = Array.from({ length: m * k }, (_, i) => Math.sin(0.7 * i));
    const b = Array.from({ length: k * n }, (_, i) => Math.cos(0.3 * i));
    const f = jit((x: np.Array, y: np.Array) => {
      const z = np.matmul(x, y).reshape([m, 4, n / 4]);
      return [z.ref.sum(1), z.max(1)];
    });
    const args = () => [np.array(a).reshape([m, k]), np.array(b).reshape([k, n])] as const;
    const warm = f(...args()) as unknown as np.Array[];
    for (const w of warm) w.dispose();
    let out: np.Array[] = [];
    const kernels = traceKernels(() => {
      out = f(...args()) as unknown as np.Array[];
      for (const o of out) o.ref.dataSync();
    });
    // The product, its sum and its max: three kernels (unpatched, a fourth copies the product).
    expect(kernels.map((kernel) => kernel.reduction ?? "copy")).toEqual([
      "Add:6",
      "Add:4",
      "Max:4",
    ]);
    const [sum, max] = [await out[0].data(), await out[1].data()];
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n / 4; j++) {
        const zs = [0, 1, 2, 3].map((g) => {
          let s = 0;
          for (let r = 0; r < k; r++) s += a[i * k + r] * b[r * n + g * (n / 4) + j];
          return s;
        });
        expect(sum[i * (n / 4) + j]).toBeCloseTo(zs[0] + zs[1] + zs[2] + zs[3], 5);
        expect(max[i * (n / 4) + j]).toBeCloseTo(Math.max(...zs), 5);
      }
    f.dispose();
  });

  it("runs a compiled program's kernels as it reaches them, freeing intermediates", async () => {
    // Ten 64K-element intermediates, each used once: run in order, at most a few are alive.
    const chain = jit((x: np.Array) => {
      let y = x;
      for (let i = 0; i < 10; i++) y = np.tanh(y.ref.mul(0.5)).sum(-1, { keepdims: true }).add(y);
      return y;
    });
    const x = np.ones([256, 256]);
    await chain(x.ref).data();
    const before = await liveBuffers();
    const y = chain(x.ref);
    // Nothing was read yet: unpatched, every intermediate is still held for a later dispatch.
    expect((await liveBuffers()) - before).toBeLessThanOrEqual(2);
    expect(Number.isFinite((await y.data())[0])).toBe(true);
    chain.dispose();
    x.dispose();
  });

  it("reuses compiled kernels and their instances across calls", async () => {
    const f = jit((a: np.Array, b: np.Array) => np.matmul(a.ref.add(1), b).mul(a.sum()));
    const a = np.ones([8, 8]);
    const b = np.ones([8, 8]);
    await f(a.ref, b.ref).data();
    const Instance = WebAssembly.Instance;
    let made = 0;
    const counting = function (this: unknown, ...args: ConstructorParameters<typeof Instance>) {
      made++;
      return new Instance(...args);
    } as unknown as typeof Instance;
    WebAssembly.Instance = counting;
    try {
      for (let i = 0; i < 3; i++) {
        const out = await f(a.ref, b.ref).data();
        expect(out[0]).toBe(2 * 8 * 64);
      }
    } finally {
      WebAssembly.Instance = Instance;
    }
    expect(made).toBe(0);
    f.dispose();
    a.dispose();
    b.dispose();
  });
});
