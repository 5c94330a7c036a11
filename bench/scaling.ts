/**
 * The scaling table (issue 16, item 5): tokens per second and peak memory of one training step,
 * one thread, across model sizes and sequence lengths, each row beside PyTorch + an optimised
 * BLAS at the same shapes.
 *
 * - Model rows: presets tiny, small, default and medium at batch 16 × sequence 64.
 * - Sequence rows: the default preset at sequence 64, 128, 256 and 512, with the batch cut to keep
 *   1,024 tokens per step (batch 16, 8, 4, 2), so that only the attention's share grows.
 *
 * The Rankwise step is bench/step-child.ts (train-throughput's step: jit'ed loss and gradient,
 * clip to 1, AdamW, update, loss read); the PyTorch step is bench/torch_llama.py (the same
 * architecture, GQA included, and step). Both sides report the process's peak RSS; Rankwise also
 * jax-js's wasm heap (bench/wasm-heap.ts). Every (row, engine) runs in its own process; rounds
 * alternate Rankwise and PyTorch row by row (common.ts `alternate`), so each row's ratio is
 * measured side by side, per round too. The two engines must count the same parameters.
 *
 * `--quick`: tiny and small at sequence 64, small at 128 (batch 8); one round of 3 steps.
 *
 *   node --import tsx bench/scaling.ts [--quick]
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

const TOKENS_PER_STEP = 1024;
const MODEL_SEQ = 64;

interface Shape {
  model: string;
  batch: number;
  seq: number;
  /** Which table(s) the row belongs to. */
  groups: ("model" | "seq")[];
}

interface ChildResult {
  engine: "rankwise" | "pytorch";
  params: number;
  stepMs: number[];
  warmupMs?: number[];
  peakRssMiB: number;
  wasmHeapMiB?: number | null;
  load: LoadRecord;
  matmulGflops512?: number;
  blas?: BlasInfo;
}

/** The rows: the model sweep at sequence 64, then the sequence sweep of `seqModel`. */
function shapes(quick: boolean): { rows: Shape[]; seqModel: string } {
  const models = quick ? ["tiny", "small"] : ["tiny", "small", "default", "medium"];
  const seqModel = quick ? "small" : "default";
  const seqs = quick ? [64, 128] : [64, 128, 256, 512];
  const rows: Shape[] = models.map((model) => ({
    model,
    batch: TOKENS_PER_STEP / MODEL_SEQ,
    seq: MODEL_SEQ,
    groups: ["model"],
  }));
  for (const seq of seqs) {
    const same = rows.find((r) => r.model === seqModel && r.seq === seq);
    if (same) same.groups.push("seq");
    else rows.push({ model: seqModel, batch: TOKENS_PER_STEP / seq, seq, groups: ["seq"] });
  }
  return { rows, seqModel };
}

type Config = Shape & { engine: "rankwise" | "pytorch" };

async function parent(quick: boolean): Promise<void> {
  const preflight = requireTorchBaseline();
  const start = load1();
  const { vocab } = benchCorpus();
  const { rows, seqModel } = shapes(quick);
  const rounds = quick ? 1 : 3;
  const steps = quick ? 3 : 10;
  const warmup = quick ? 2 : 5;
  const configs: Config[] = rows.flatMap((row) => [
    { ...row, engine: "rankwise" as const },
    { ...row, engine: "pytorch" as const },
  ]);
  const results = await alternate(configs, rounds, (c, r) => {
    log(`scaling: round ${r + 1}/${rounds}, ${c.engine}, ${c.model} ${c.batch}×${c.seq}`);
    const args = ["--model", c.model, "--batch", String(c.batch), "--seq", String(c.seq)];
    const counts = ["--steps", String(steps), "--warmup", String(warmup)];
    if (c.engine === "rankwise")
      return runScript<ChildResult>("bench/scaling.ts", 1, [...args, ...counts]);
    return runPython<ChildResult>("bench/torch_llama.py", [
      ...args,
      ...counts,
      "--threads",
      "1",
      "--vocab",
      String(vocab),
    ]);
  });
  const side = (runs: ChildResult[]) => stepSide(runs, TOKENS_PER_STEP, 1);
  const table = rows.map((row, i) => {
    const [ours, theirs] = [results[2 * i]!, results[2 * i + 1]!];
    if (ours[0]!.params !== theirs[0]!.params) {
      throw new Error(
        `${row.model}: Rankwise counts ${ours[0]!.params} parameters, PyTorch ${theirs[0]!.params}; the shapes differ`,
      );
    }
    const rankwise = side(ours);
    const pytorch = side(theirs);
    const heaps = ours.map((res) => res.wasmHeapMiB).filter((x): x is number => x != null);
    return {
      ...row,
      params: ours[0]!.params,
      rankwise: {
        ...rankwise,
        wasmHeapMiB: heaps.length > 0 ? round(Math.max(...heaps), 1) : null,
        compileMs: compileMs(ours),
      },
      pytorch: {
        ...pytorch,
        matmulGflops512: round(median(theirs.map((res) => res.matmulGflops512!)), 1),
      },
      ...engineRatios(rankwise, pytorch, 3),
    };
  });
  const baseline = baselineRecord(
    preflight,
    results
      .flat()
      .filter((res) => res.engine === "pytorch")
      .map((res) => ({ threads: 1, blas: res.blas! })),
  );
  writeResult(quick ? "scaling-quick" : "scaling", {
    benchmark: "scaling",
    command: `npm run bench -- scaling${quick ? " --quick" : ""}`,
    date: new Date().toISOString(),
    machine: machine(),
    load: { start, end: load1() },
    quick,
    vocab,
    threads: 1,
    tokensPerStep: TOKENS_PER_STEP,
    modelSeq: MODEL_SEQ,
    seqModel,
    rounds,
    steps,
    warmup,
    baseline,
    childLoads: table.flatMap((t) => [...t.rankwise.childLoads, ...t.pytorch.childLoads]),
    table,
  });
}

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    model: { type: "string", default: "default" },
    batch: { type: "string", default: "16" },
    seq: { type: "string", default: "64" },
    steps: { type: "string", default: "10" },
    warmup: { type: "string", default: "5" },
  },
});
if (isChild()) {
  reportToParent(
    await measureTrainStep({
      model: values.model!,
      batch: Number(values.batch),
      seq: Number(values.seq),
      steps: Number(values.steps),
      warmup: Number(values.warmup),
    }),
  );
} else await parent(values.quick!).catch(fail);
