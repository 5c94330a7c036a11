/**
 * Memory over a long training run (issue 16, item 4 and its goal: no growth of resident memory
 * between step 100 and step 2,000).
 *
 * A child process (RANKWISE_THREADS=1) runs the library's `train` — the trainer the CLI runs,
 * with its defaults: evaluation every 100 steps, checkpoints every 200, metrics, the final
 * sample and report — on the default preset for 2,000 steps. Every 50 steps (and at step 1) the
 * trainer's `gradientHook`, which passes the gradients through untouched, samples:
 *   - the process's resident set (process.memoryUsage().rss) and V8's heap, external and
 *     ArrayBuffer bytes;
 *   - jax-js's wasm heap (bench/wasm-heap.ts) and its live buffers (test/helpers/engine.ts
 *     `liveBuffers`, counting from before the model exists).
 * The sample is taken inside the step, after the gradient exists and before the optimizer runs,
 * at the same point every time, right after a full garbage collection (the child runs with
 * --expose-gc): without it V8's heap swings by tens of MiB between collections and RSS with it,
 * which hides a slow leak over a few dozen samples. The parent fits a least-squares line to each quantity from step
 * 100 on and reports its slope per 1,000 steps, and the change from step 100 to the end: a
 * quantity that grows names the structure that leaks.
 *
 * `--quick`: the small preset for 300 steps (step 100 → 300).
 *
 *   node --import tsx bench/memory.ts [--quick]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  fail,
  isChild,
  type LoadRecord,
  load1,
  log,
  machine,
  peakRssMiB,
  reportToParent,
  round,
  runChild,
  writeResult,
} from "./common.js";
import { startWatchedEngine } from "./step-child.js";

const EVERY = 50;
/** The first step of the fit: the jit caches, the optimizer state and the evaluation's
 *  buffers all exist by then. */
const FROM = 100;

/** What is sampled; MiB except `liveBuffers` (a count). */
const QUANTITIES = [
  "rssMiB",
  "wasmHeapMiB",
  "liveBuffers",
  "jsHeapUsedMiB",
  "externalMiB",
  "arrayBuffersMiB",
] as const;
type Quantity = (typeof QUANTITIES)[number];
type Sample = { step: number; ms: number } & Record<Quantity, number | null>;

interface ChildResult {
  model: string;
  steps: number;
  params: number;
  samples: Sample[];
  peakRssMiB: number;
  trainLoss: number;
  valLoss: number;
  seconds: number;
  load: LoadRecord;
}

const MiB = (bytes: number) => bytes / 2 ** 20;

async function child(model: string, steps: number): Promise<void> {
  const { finishLoad, heap } = await startWatchedEngine();
  const { liveBuffers } = await import("../test/helpers/engine.js");
  await liveBuffers(); // starts counting: only buffers made from here on are seen
  const { train } = await import("../src/train/trainer.js");
  const { validateConfig } = await import("../src/train/config.js");
  const { llamaParamCount, llamaPreset } = await import("../src/nn/index.js");
  const { loadCorpus } = await import("../src/data/corpus.js");
  const { buildTokenizer } = await import("../src/data/tokenizer.js");
  type Grads = import("../src/nn/llama.js").LlamaParams;

  const config = validateConfig({ model, steps });
  const t0 = performance.now();
  const samples: Sample[] = [];
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("bench/memory.ts: run the child with node --expose-gc");
  const sample = async (step: number) => {
    gc();
    const m = process.memoryUsage();
    const bytes = heap.bytes();
    samples.push({
      step,
      ms: performance.now() - t0,
      rssMiB: MiB(m.rss),
      wasmHeapMiB: bytes === undefined ? null : MiB(bytes),
      // The count is taken now (the helper reads its map before its first await).
      liveBuffers: await liveBuffers(),
      jsHeapUsedMiB: MiB(m.heapUsed),
      externalMiB: MiB(m.external),
      arrayBuffersMiB: MiB(m.arrayBuffers),
    });
  };
  const pending: Promise<void>[] = [];
  const gradientHook = (grads: Grads, step: number): Grads => {
    if (step === 1 || step % EVERY === 0) pending.push(sample(step));
    return grads;
  };
  const out = mkdtempSync(join(tmpdir(), "rankwise-bench-memory-"));
  let result: Awaited<ReturnType<typeof train>>;
  try {
    result = await train({ config, out, quiet: true, name: `memory ${model}`, gradientHook });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  await Promise.all(pending);
  const text = loadCorpus(config.data).text;
  const vocab = buildTokenizer(config.tokenizer, text).vocabSize;
  reportToParent({
    model,
    steps,
    params: llamaParamCount(llamaPreset(model as "default", vocab)),
    samples,
    peakRssMiB: peakRssMiB(),
    trainLoss: result.trainLoss,
    valLoss: result.valLoss,
    seconds: result.elapsed,
    load: finishLoad(),
  } satisfies ChildResult);
}

/** Least-squares slope of y against x. */
function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  return sxy / sxx;
}

async function parent(quick: boolean): Promise<void> {
  const start = load1();
  const model = quick ? "small" : "default";
  const steps = quick ? 300 : 2000;
  log(`memory: ${model} preset, ${steps} steps, one thread`);
  // --expose-gc: each sample follows a full collection (see the header).
  const res = await runChild<ChildResult>(
    process.execPath,
    [
      "--expose-gc",
      "--import",
      "tsx",
      "bench/memory.ts",
      "--model",
      model,
      "--steps",
      String(steps),
    ],
    { RANKWISE_THREADS: "1" },
  );
  const fitted = res.samples.filter((s) => s.step >= FROM);
  const first = fitted[0]!;
  const last = fitted.at(-1)!;
  const growth = QUANTITIES.map((q) => {
    const points = fitted.filter((s) => s[q] !== null);
    if (points.length < 2)
      return { quantity: q, from: null, to: null, change: null, per1000: null, lastRise: null };
    const [a, b] = [points[0]![q]!, points.at(-1)![q]!];
    // The last sample above its predecessor: a one-time rise (say, the first evaluation's
    // buffers) ends early, a leak keeps rising to the end.
    let lastRise: number | null = null;
    for (let i = 1; i < points.length; i++) {
      if (points[i]![q]! > points[i - 1]![q]!) lastRise = points[i]!.step;
    }
    const per1000 =
      1000 *
      slope(
        points.map((s) => s.step),
        points.map((s) => s[q]!),
      );
    return {
      quantity: q,
      from: round(a, 2),
      to: round(b, 2),
      change: round(b - a, 2),
      per1000: round(per1000, 3),
      lastRise,
    };
  });
  writeResult(quick ? "memory-quick" : "memory", {
    benchmark: "memory",
    command: `npm run bench -- memory${quick ? " --quick" : ""}`,
    date: new Date().toISOString(),
    machine: machine(),
    load: { start, end: load1() },
    quick,
    model,
    params: res.params,
    steps,
    threads: 1,
    every: EVERY,
    fitFrom: FROM,
    fromStep: first.step,
    toStep: last.step,
    peakRssMiB: round(res.peakRssMiB, 1),
    trainLoss: round(res.trainLoss, 4),
    valLoss: round(res.valLoss, 4),
    seconds: round(res.seconds, 1),
    childLoads: [res.load],
    growth,
    samples: res.samples.map((s) => ({
      ...s,
      ...Object.fromEntries(
        QUANTITIES.map((q) => [
          q,
          s[q] === null ? null : round(s[q]!, q === "liveBuffers" ? 0 : 3),
        ]),
      ),
      ms: round(s.ms, 0),
    })),
  });
}

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    model: { type: "string", default: "default" },
    steps: { type: "string", default: "2000" },
  },
});
if (isChild()) await child(values.model!, Number(values.steps));
else await parent(values.quick!).catch(fail);
