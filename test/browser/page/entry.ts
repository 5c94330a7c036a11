/**
 * The browser side of the WebGPU suite, written against the browser entry (src/browser.ts, the
 * package's "rankwise/browser"): bundled by esbuild (test/browser/session.ts) into one
 * module that the page loads; it exposes `window.harness`, which the Node tests call through
 * playwright. Every function takes the device to run on ("webgpu" or "wasm": both live in one
 * page) and returns plain numbers, so the comparisons and tolerances stay in the Node tests.
 *
 * Reads are asynchronous only (`await a.data()`): in headless Chromium on SwiftShader, jax-js's
 * synchronous WebGPU read (an OffscreenCanvas copy) returns zeros and kills the WebGPU instance
 * (issue 15 has a minimal reproduction). `start` therefore refuses the webgpu canvas that read goes
 * through, so a code path that reads synchronously fails loudly with SYNC_READ_ERROR instead.
 */
import { type Device, defaultDevice, init as jaxInit, numpy as np } from "@jax-js/jax";
import { adamw, applyUpdates, chain, clipByGlobalNorm, nn, tree } from "../../../src/browser.js";
import { FACTORIES, prepareState, type ReplayCase } from "./factories.js";

export const SYNC_READ_ERROR = "synchronous read of a webgpu array";

type Leaves = Record<string, number[]>;

/** Start both backends; returns what jax-js found and the WebGPU adapter's identity. */
async function start(): Promise<{ devices: string[]; adapter: Record<string, string> | null }> {
  const devices = await jaxInit("wasm", "webgpu");
  // jax-js reads a WebGPU buffer synchronously through a webgpu-context OffscreenCanvas; here
  // that canvas reads zeros and kills the WebGPU instance, so refuse it with a named error.
  // Small arrays jax-js still holds as expressions are read on the host and never get here.
  const getContext = OffscreenCanvas.prototype.getContext as (...a: unknown[]) => unknown;
  (OffscreenCanvas.prototype as any).getContext = function (
    this: OffscreenCanvas,
    ...a: unknown[]
  ) {
    if (a[0] === "webgpu") throw new Error(`${SYNC_READ_ERROR} (returns zeros on this adapter)`);
    return getContext.apply(this, a);
  };
  const gpu = (navigator as { gpu?: any }).gpu;
  const adapter = gpu ? await gpu.requestAdapter() : null;
  const info = adapter?.info;
  return {
    devices,
    adapter: info ? { vendor: info.vendor, architecture: info.architecture } : null,
  };
}

/** Read arrays (consumed) with one device round trip: flattened and concatenated first. */
async function readAll(arrays: np.Array[]): Promise<number[][]> {
  if (arrays.length === 0) return [];
  const sizes = arrays.map((a) => a.size);
  const flat = np.concatenate(arrays.map((a) => a.reshape([-1])));
  const data = Array.from((await flat.data()) as Float32Array);
  const out: number[][] = [];
  let at = 0;
  for (const n of sizes) {
    out.push(data.slice(at, at + n));
    at += n;
  }
  return out;
}

const leafTree = (values: Leaves, shapes: Record<string, number[]>) =>
  Object.fromEntries(
    Object.keys(shapes).map((k) => [
      k,
      np.array(Float32Array.from(values[k]), { shape: shapes[k] }),
    ]),
  );

/**
 * Replay a golden-trajectory case: the parameters after every step (and the updates, when the
 * case asks), or the error that stopped it.
 */
async function replay(
  c: ReplayCase,
  device: Device,
): Promise<{ params?: Leaves[]; updates?: Leaves[]; error?: string; stack?: string }> {
  defaultDevice(device);
  const keys = Object.keys(c.shapes);
  const kept: np.Array[] = [];
  const keptUpdates: np.Array[] = [];
  let params: Record<string, np.Array> = leafTree(c.init, c.shapes);
  let state: any;
  try {
    const opt = FACTORIES[c.family](c);
    state = prepareState(c, opt.init(tree.ref(params)));
    for (const g of c.grads) {
      const [updates, next] = opt.update(leafTree(g, c.shapes), state, tree.ref(params)) as [
        Record<string, np.Array>,
        unknown,
      ];
      state = next;
      if (c.withUpdates) for (const k of keys) keptUpdates.push(updates[k].ref);
      params = applyUpdates(params, updates) as Record<string, np.Array>;
      for (const k of keys) kept.push(params[k].ref);
    }
    const flat = await readAll(kept.splice(0));
    const flatUpdates = await readAll(keptUpdates.splice(0));
    const perStep = (rows: number[][]) =>
      c.grads.map((_, s) => Object.fromEntries(keys.map((k, j) => [k, rows[s * keys.length + j]])));
    return { params: perStep(flat), updates: c.withUpdates ? perStep(flatUpdates) : undefined };
  } catch (error) {
    return { error: String((error as Error)?.message ?? error), stack: (error as Error)?.stack };
  } finally {
    // After an error mid-update some of these may be consumed already: free what is left.
    for (const t of [params, state, kept, keptUpdates]) {
      for (const a of tree.leaves(t ?? [])) {
        try {
          (a as np.Array).dispose();
        } catch {}
      }
    }
  }
}

interface LlamaCase {
  config: Record<string, any>;
  tokens: number[][];
  targets: number[][];
  params: Record<string, { shape: number[]; data: number[] }>;
}

/** LLaMA logits, loss, and the jit'ed loss and gradients, on `device`. */
async function llama(c: LlamaCase, device: Device) {
  defaultDevice(device);
  const config = nn.llamaConfig(c.config as any);
  const load = (): nn.LlamaParams =>
    Object.fromEntries(
      Object.entries(c.params).map(([k, p]) => [
        k,
        np.array(new Float32Array(p.data)).reshape(p.shape),
      ]),
    );
  const ints = (rows: number[][]) => np.array(rows, { dtype: np.int32 });
  const logits = nn.llamaForward(load(), ints(c.tokens), config);
  const loss = nn.llamaLoss(load(), ints(c.tokens), ints(c.targets), config);
  const lossAndGrad = nn.makeLossAndGrad(config);
  const [jitLoss, grads] = lossAndGrad(load(), ints(c.tokens), ints(c.targets));
  const names = Object.keys(grads).sort();
  const ranOn = logits.device;
  const [l, lo, jl, ...g] = await readAll([logits, loss, jitLoss, ...names.map((n) => grads[n])]);
  lossAndGrad.dispose();
  return {
    device: ranOn,
    logits: l,
    loss: lo[0],
    jitLoss: jl[0],
    grads: Object.fromEntries(names.map((n, i) => [n, g[i]])),
  };
}

/** A fixed, learnable batch: each row counts up from its own start, modulo the vocabulary. */
function countingBatch(batch: number, seq: number, vocab: number) {
  const rows = Array.from({ length: batch }, (_, b) =>
    Array.from({ length: seq + 1 }, (_, t) => (3 * b + t) % vocab),
  );
  return {
    inputs: rows.map((r) => r.slice(0, seq)),
    targets: rows.map((r) => r.slice(1)),
  };
}

export interface TrainSpec {
  preset: nn.LlamaPreset;
  vocab: number;
  batch: number;
  seq: number;
  steps: number;
  learningRate: number;
  /** Untimed steps first (jit compilation). */
  warmup?: number;
}

/**
 * Training steps of a preset model on `device`: jit'ed loss and gradient, global-norm clip to 1,
 * AdamW, params + updates, the loss read back every step (as the trainer does). The start is
 * drawn on wasm and copied, so both devices start from the same numbers.
 */
async function train(spec: TrainSpec, device: Device) {
  const config = nn.llamaPreset(spec.preset, spec.vocab);
  defaultDevice("wasm");
  const drawn = nn.initLlama(config, 0);
  const names = Object.keys(drawn);
  const values = await readAll(names.map((n) => drawn[n].ref));
  const shapes = names.map((n) => drawn[n].shape);
  tree.dispose(drawn);
  defaultDevice(device);
  let params: nn.LlamaParams = Object.fromEntries(
    names.map((n, i) => [n, np.array(Float32Array.from(values[i]), { shape: shapes[i] })]),
  );
  const { inputs, targets } = countingBatch(spec.batch, spec.seq, spec.vocab);
  const x = np.array(inputs, { dtype: np.int32 });
  const y = np.array(targets, { dtype: np.int32 });
  const opt = chain(clipByGlobalNorm(1), adamw({ learningRate: spec.learningRate }));
  let state = opt.init(tree.ref(params));
  const lossAndGrad = nn.makeLossAndGrad(config);
  const ranOn = x.device;
  const losses: number[] = [];
  const stepMs: number[] = [];
  const warmup = spec.warmup ?? 0;
  for (let step = 0; step < warmup + spec.steps; step++) {
    const t0 = performance.now();
    const [loss, grads] = lossAndGrad(tree.ref(params), x.ref, y.ref);
    const [updates, next] = opt.update(grads, state, tree.ref(params));
    state = next;
    params = applyUpdates(params, updates) as nn.LlamaParams;
    const value = ((await loss.data()) as Float32Array)[0];
    if (step >= warmup) {
      losses.push(value);
      stepMs.push(performance.now() - t0);
    }
  }
  tree.dispose([params, state]);
  x.dispose();
  y.dispose();
  lossAndGrad.dispose();
  return { device: ranOn, losses, stepMs, params: nn.llamaParamCount(config) };
}

export { train };

// In the page only: bench/browser.ts also imports `train` in Node, for the wasm figure.
if (typeof window !== "undefined") {
  (window as any).harness = { start, replay, llama, train };
  (window as any).harnessReady = true;
}
