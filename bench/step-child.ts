/**
 * One training step of a LLaMA preset, timed inside a benchmark child: the step of
 * bench/train-throughput.ts (the trainer's jit'ed loss-and-gradient, `buildOptimizer` of the
 * default configuration — clip the global norm to 1, then AdamW at its default rate —
 * `params + updates`, and the loss read back with `await loss.data()`), on batches from the
 * trainer's sampler over the character-tokenized moby-dick corpus, at any preset, batch and
 * sequence length. The first `warmup` steps (jit compilation, V8 and wasm tier-up) are timed
 * apart. Also the process's peak RSS and jax-js's wasm heap (bench/wasm-heap.ts).
 *
 * bench/train-throughput.ts and bench/scaling.ts run it.
 */
import { loadCorpus } from "../src/data/corpus.js";
import { buildTokenizer } from "../src/data/tokenizer.js";
import { childThreads, type LoadRecord, loadProbe, peakRssMiB } from "./common.js";
import { startEngine } from "./engine.js";
import { watchWasmMemory } from "./wasm-heap.js";

export interface StepOptions {
  model: string;
  batch: number;
  seq: number;
  warmup: number;
  steps: number;
}

export interface StepMeasurement {
  engine: "rankwise";
  threads: number;
  params: number;
  stepMs: number[];
  warmupMs: number[];
  peakRssMiB: number;
  /** jax-js's wasm heap at the end (it never shrinks, so also its peak); null if unreachable. */
  wasmHeapMiB: number | null;
  load: LoadRecord;
}

export async function measureTrainStep(o: StepOptions): Promise<StepMeasurement> {
  const finishLoad = loadProbe();
  const heap = watchWasmMemory();
  try {
    await startEngine();
  } finally {
    heap.stop();
  }
  const { tree } = await import("../src/index.js");
  const { BatchSampler } = await import("../src/data/sampler.js");
  const { initLlama, llamaParamCount, llamaPreset, makeLossAndGrad } = await import(
    "../src/nn/index.js"
  );
  const { buildOptimizer } = await import("../src/train/trainer.js");
  const { DEFAULT_CONFIG } = await import("../src/train/config.js");

  const text = loadCorpus("moby-dick").text;
  const tokenizer = buildTokenizer("char", text);
  const tokens = tokenizer.encode(text);
  const config = { ...DEFAULT_CONFIG, model: o.model, batchSize: o.batch, seqLen: o.seq };
  // The position bound is only checked, never allocated: widen it for the long rows.
  const modelConfig = llamaPreset(o.model as "default", tokenizer.vocabSize, {
    max_position_embeddings: Math.max(256, o.seq),
  });
  let params = initLlama(modelConfig, 0);
  const opt = buildOptimizer(config);
  let state = opt.init(tree.share(params));
  const sampler = new BatchSampler(tokens, { batchSize: o.batch, seqLen: o.seq, seed: 0 });
  const lossAndGrad = makeLossAndGrad(modelConfig);

  const step = async () => {
    const start = performance.now();
    const batch = sampler.next();
    const [loss, grads] = lossAndGrad(tree.share(params), batch.inputs, batch.targets);
    const [updates, next] = opt.update(grads, state, tree.share(params));
    state = next;
    params = tree.map((p: any, u: any) => p.add(u), params, updates) as typeof params;
    const value = (await loss.data())[0]!;
    if (!Number.isFinite(value)) throw new Error(`loss is ${value}`);
    return performance.now() - start;
  };
  const warmupMs: number[] = [];
  for (let i = 0; i < o.warmup; i++) warmupMs.push(await step());
  const stepMs: number[] = [];
  for (let i = 0; i < o.steps; i++) stepMs.push(await step());

  const heapBytes = heap.bytes();
  const count = llamaParamCount(modelConfig);
  lossAndGrad.dispose();
  tree.dispose(params);
  tree.dispose(state);
  return {
    engine: "rankwise",
    threads: childThreads(),
    params: count,
    stepMs,
    warmupMs,
    peakRssMiB: peakRssMiB(),
    wasmHeapMiB: heapBytes === undefined ? null : heapBytes / 2 ** 20,
    load: finishLoad(),
  };
}
