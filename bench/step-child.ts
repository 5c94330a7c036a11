/**
 * One training step of a LLaMA preset, timed inside a benchmark child: the step of
 * bench/train-throughput.ts (the trainer's jit'ed loss-and-gradient, `buildOptimizer` of the
 * default configuration — clip the global norm to 1, then AdamW at its default rate —
 * `params + updates`, and the loss read back with `await loss.data()`), on batches from the
 * trainer's sampler over the character-tokenized moby-dick corpus, at any preset, batch and
 * sequence length. The first `warmup` steps (jit compilation, V8 and wasm tier-up) are timed
 * apart. Also the process's peak RSS and jax-js's wasm heap (bench/wasm-heap.ts).
 *
 * bench/train-throughput.ts and bench/scaling.ts run it; bench/profile.ts splits the same step
 * (`makeTrainStep`) into phases; bench/memory.ts starts its engine the same way
 * (`startWatchedEngine`); the parents read the vocabulary from `benchCorpus`.
 */
import { loadCorpus } from "../src/data/corpus.js";
import type { BatchSampler } from "../src/data/sampler.js";
import { buildTokenizer } from "../src/data/tokenizer.js";
import type { initLlama, llamaPreset, makeLossAndGrad } from "../src/nn/index.js";
import type { buildOptimizer } from "../src/train/trainer.js";
import { childThreads, type LoadRecord, loadProbe, peakRssMiB } from "./common.js";
import { type Jax, startEngine } from "./engine.js";
import { watchWasmMemory } from "./wasm-heap.js";

/** The corpus every step benchmark trains on: moby-dick, character-tokenized. */
export function benchCorpus() {
  const text = loadCorpus("moby-dick").text;
  const tokenizer = buildTokenizer("char", text);
  return { text, tokenizer, vocab: tokenizer.vocabSize };
}

/**
 * A child's start: the load probe, then the engine, with its wasm heap recorded from the start
 * (bench/wasm-heap.ts). Call it before anything imports jax-js.
 */
export async function startWatchedEngine(): Promise<{
  jax: Jax;
  finishLoad: () => LoadRecord;
  heap: ReturnType<typeof watchWasmMemory>;
}> {
  const finishLoad = loadProbe();
  const heap = watchWasmMemory();
  try {
    const { jax } = await startEngine();
    return { jax, finishLoad, heap };
  } finally {
    heap.stop();
  }
}

/** The trainer's step on a preset, ready to run; each `run()` replaces `params` and `state`. */
export interface TrainStep {
  modelConfig: ReturnType<typeof llamaPreset>;
  params: ReturnType<typeof initLlama>;
  state: any;
  opt: ReturnType<typeof buildOptimizer>;
  sampler: BatchSampler;
  lossAndGrad: ReturnType<typeof makeLossAndGrad>;
  /** One plain step (sample, loss and gradient, optimizer, update, loss read): its ms. */
  run(): Promise<number>;
  /** Frees the compiled step, the params and the state. */
  dispose(): void;
}

/**
 * The step of the header at `model`, batch × seq: `buildOptimizer` of the default configuration,
 * initLlama(seed 0), the sampler at seed 0. The engine must be started.
 */
export async function makeTrainStep(o: {
  model: string;
  batch: number;
  seq: number;
}): Promise<TrainStep> {
  const { tree, applyUpdates } = await import("../src/index.js");
  const { BatchSampler } = await import("../src/data/sampler.js");
  const { initLlama, llamaPreset, makeLossAndGrad } = await import("../src/nn/index.js");
  const { buildOptimizer } = await import("../src/train/trainer.js");
  const { DEFAULT_CONFIG } = await import("../src/train/config.js");

  const { text, tokenizer } = benchCorpus();
  const tokens = tokenizer.encode(text);
  const config = { ...DEFAULT_CONFIG, model: o.model, batchSize: o.batch, seqLen: o.seq };
  // The position bound is only checked, never allocated: widen it for the long rows.
  const modelConfig = llamaPreset(o.model as "default", tokenizer.vocabSize, {
    max_position_embeddings: Math.max(256, o.seq),
  });
  const params = initLlama(modelConfig, 0);
  const opt = buildOptimizer(config);
  const s: TrainStep = {
    modelConfig,
    params,
    state: opt.init(tree.share(params)),
    opt,
    sampler: new BatchSampler(tokens, { batchSize: o.batch, seqLen: o.seq, seed: 0 }),
    lossAndGrad: makeLossAndGrad(modelConfig),
    async run() {
      const start = performance.now();
      const batch = s.sampler.next();
      const [loss, grads] = s.lossAndGrad(tree.share(s.params), batch.inputs, batch.targets);
      const [updates, next] = s.opt.update(grads, s.state, tree.share(s.params));
      s.state = next;
      s.params = applyUpdates(s.params, updates);
      const value = (await loss.data())[0]!;
      if (!Number.isFinite(value)) throw new Error(`loss is ${value}`);
      return performance.now() - start;
    },
    dispose() {
      s.lossAndGrad.dispose();
      tree.dispose(s.params);
      tree.dispose(s.state);
    },
  };
  return s;
}

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
  const { finishLoad, heap } = await startWatchedEngine();
  const { llamaParamCount } = await import("../src/nn/index.js");
  const s = await makeTrainStep(o);
  const warmupMs: number[] = [];
  for (let i = 0; i < o.warmup; i++) warmupMs.push(await s.run());
  const stepMs: number[] = [];
  for (let i = 0; i < o.steps; i++) stepMs.push(await s.run());

  const heapBytes = heap.bytes();
  const count = llamaParamCount(s.modelConfig);
  s.dispose();
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
