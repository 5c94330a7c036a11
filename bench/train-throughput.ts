/**
 * Training throughput of the default model: tokens per second of full training steps (forward,
 * backward, gradient clipping, AdamW, parameter update) at batch 16 × sequence 64, with one and
 * two threads, beside the same model, batch and step in PyTorch on the same machine
 * (bench/torch_llama.py). Also peak resident memory of each process. PyTorch must call an
 * optimised BLAS (bench/torch-baseline.ts), or the benchmark refuses to run: a ratio against
 * Debian's reference BLAS once showed Rankwise 2.5× faster when it is several times slower.
 *
 * The Rankwise step (bench/step-child.ts, shared with bench/scaling.ts) is the trainer's
 * (src/train/trainer.ts): the jit'ed loss-and-gradient of `llamaPreset("default", vocab)`, `buildOptimizer` of the default configuration (clip the global
 * norm to 1, then AdamW at the optimizer's default learning rate), `params + updates`, and the
 * loss read back with `await loss.data()`. Batches come from the trainer's sampler over the
 * character-tokenized moby-dick corpus. The first steps (jit compilation) are not timed but their
 * duration is recorded.
 *
 *   node --import tsx bench/train-throughput.ts [--quick] [--steps 10] [--model default]
 */
import { parseArgs } from "node:util";
import {
  alternate,
  fail,
  isChild,
  type LoadRecord,
  load1,
  log,
  machine,
  median,
  reportToParent,
  round,
  runPython,
  runScript,
  writeResult,
} from "./common.js";
import { benchCorpus, measureTrainStep } from "./step-child.js";
import { compileMs, engineRatios, stepSide } from "./step-stats.js";
import { type BlasInfo, baselineRecord, requireTorchBaseline } from "./torch-baseline.js";

const BATCH = 16;
const SEQ = 64;
// Untimed steps before the timed ones, for both engines. Two threads reach their steady step
// later than one: after 5 warm-up steps their next ~5 steps took 85–120 ms against 73–80 ms later
// (one thread: flat from the first), so 10.
const WARMUP = 10;
const THREADS = [1, 2];

interface ChildResult {
  engine: "rankwise" | "pytorch";
  threads: number;
  params: number;
  stepMs: number[];
  /** Rankwise: duration of the untimed first steps (compilation). */
  warmupMs?: number[];
  peakRssMiB: number;
  /** Rankwise: jax-js's wasm heap at the end of the child (its peak). */
  wasmHeapMiB?: number;
  load: LoadRecord;
  torch?: string;
  /** PyTorch: its float32 matmul GFLOP/s at 512 and the BLAS its sgemm binds to. */
  matmulGflops512?: number;
  blas?: BlasInfo;
}

async function child(model: string, steps: number): Promise<void> {
  const m = await measureTrainStep({ model, batch: BATCH, seq: SEQ, warmup: WARMUP, steps });
  reportToParent({
    engine: "rankwise",
    threads: m.threads,
    params: m.params,
    stepMs: m.stepMs,
    warmupMs: m.warmupMs,
    peakRssMiB: m.peakRssMiB,
    wasmHeapMiB: m.wasmHeapMiB ?? undefined,
    load: m.load,
  } satisfies ChildResult);
}

type Config = { engine: "rankwise" | "pytorch"; threads: number };

async function parent(model: string, steps: number, quick: boolean): Promise<void> {
  const preflight = requireTorchBaseline();
  const start = load1();
  const { vocab } = benchCorpus();
  const configs: Config[] = THREADS.flatMap((threads) => [
    { engine: "rankwise" as const, threads },
    { engine: "pytorch" as const, threads },
  ]);
  const rounds = quick ? 1 : 3;
  const results = await alternate(configs, rounds, (c, r) => {
    log(`train-throughput: round ${r + 1}/${rounds}, ${c.engine}, ${c.threads} thread(s)`);
    const args = ["--model", model, "--steps", String(steps)];
    if (c.engine === "rankwise")
      return runScript<ChildResult>("bench/train-throughput.ts", c.threads, args);
    return runPython<ChildResult>("bench/torch_llama.py", [
      ...args,
      "--threads",
      String(c.threads),
      "--vocab",
      String(vocab),
      "--batch",
      String(BATCH),
      "--seq",
      String(SEQ),
      "--warmup",
      String(WARMUP),
    ]);
  });
  const measured = configs.map((c, i) => {
    const runs = results[i]!;
    return {
      ...c,
      params: runs[0]!.params,
      ...stepSide(runs, BATCH * SEQ, 0),
      steps: runs.flatMap((res) => res.stepMs).length,
      wasmHeapMiB:
        c.engine === "rankwise"
          ? round(Math.max(...runs.map((res) => res.wasmHeapMiB ?? Number.NaN)), 0)
          : undefined,
      matmulGflops512:
        c.engine === "pytorch"
          ? round(median(runs.map((res) => res.matmulGflops512!)), 1)
          : undefined,
      compileMs: c.engine === "rankwise" ? compileMs(runs) : undefined,
    };
  });
  const find = (engine: string, threads: number) =>
    measured.find((m) => m.engine === engine && m.threads === threads)!;
  const ratios = THREADS.map((threads) => {
    const [rankwise, pytorch] = [find("rankwise", threads), find("pytorch", threads)];
    return { threads, ...engineRatios(rankwise, pytorch, 2) };
  });
  const baseline = baselineRecord(
    preflight,
    results
      .flat()
      .filter((res) => res.engine === "pytorch")
      .map((res) => ({ threads: res.threads, blas: res.blas! })),
  );
  writeResult("train-throughput", {
    benchmark: "train-throughput",
    command: `node --import tsx bench/train-throughput.ts${quick ? " --quick" : ""}`,
    date: new Date().toISOString(),
    machine: machine(),
    load: { start, end: load1() },
    model,
    vocab,
    batch: BATCH,
    seqLen: SEQ,
    tokensPerStep: BATCH * SEQ,
    rounds,
    warmup: WARMUP,
    baseline,
    measured,
    ratios,
  });
}

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    model: { type: "string", default: "default" },
    steps: { type: "string" },
  },
});
const steps = Number(values.steps ?? (values.quick ? 5 : 10));
if (isChild()) await child(values.model!, steps);
else await parent(values.model!, steps, values.quick!).catch(fail);
