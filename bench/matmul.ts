/**
 * Matmul throughput of the wasm backend: GFLOP/s (2n³ flops) of jit-compiled `np.matmul` for
 * square float32 A·B, A·Bᵀ and Aᵀ·B (the transpose taken inside the jit, so the kernel sees the
 * strided operand), sizes 256, 512 and 1024, with one and two wasm threads, beside PyTorch's
 * `torch.mm` on the same products with the same thread count (bench/torch_matmul.py). PyTorch
 * must call an optimised BLAS (bench/torch-baseline.ts), or the benchmark refuses to run.
 *
 * Each timed call runs the matmul and waits for its result (`blockUntilReady`, which with a
 * thread pool waits for the workers). Every (engine, threads) configuration runs in its own child
 * process, interleaved over rounds so that load drifts hit all of them alike; the table gives the
 * median over all timed calls of all rounds.
 *
 *   node --import tsx bench/matmul.ts [--quick]
 */
import { parseArgs } from "node:util";
import {
  alternate,
  childThreads,
  fail,
  isChild,
  type LoadRecord,
  load1,
  loadProbe,
  log,
  machine,
  median,
  reportToParent,
  round,
  runPython,
  runScript,
  timeRuns,
  writeResult,
} from "./common.js";
import { startEngine } from "./engine.js";
import { type BlasInfo, baselineRecord, requireTorchBaseline } from "./torch-baseline.js";

const OPS = ["A·B", "A·Bᵀ", "Aᵀ·B"] as const;
type Op = (typeof OPS)[number];
const SIZES = [256, 512, 1024];
const THREADS = [1, 2];

interface ChildResult {
  /** Absent in Rankwise's children. */
  engine?: "pytorch";
  threads: number;
  load: LoadRecord;
  /** Milliseconds of each timed call, per op and size. */
  times: Record<string, number[]>;
  /** PyTorch only. */
  blas?: BlasInfo;
}

type Engine = "rankwise" | "pytorch";

const key = (op: string, n: number) => `${op} ${n}`;

async function child(quick: boolean): Promise<void> {
  const finishLoad = loadProbe();
  const { jax } = await startEngine();
  const { jit, numpy: np, random } = jax;
  const fns: Record<Op, ReturnType<typeof jit>> = {
    A·B: jit((a: any, b: any) => np.matmul(a, b)),
    A·Bᵀ: jit((a: any, b: any) => np.matmul(a, b.transpose())),
    Aᵀ·B: jit((a: any, b: any) => np.matmul(a.transpose(), b)),
  };
  const times: Record<string, number[]> = {};
  for (const n of SIZES) {
    const keys = random.split(random.key(n), 2);
    const a = random.normal(keys.ref.slice(0), [n, n]);
    const b = random.normal(keys.slice(1), [n, n]);
    await jax.blockUntilReady([a, b]);
    const reps = Math.max(3, Math.round((quick ? 8 : 24) * (256 / n) ** 1.5));
    for (const op of OPS) {
      const f = fns[op] as (a: unknown, b: unknown) => InstanceType<typeof np.Array>;
      times[key(op, n)] = await timeRuns(
        async () => {
          const c = f(a.ref, b.ref);
          await c.blockUntilReady();
          c.dispose();
        },
        { warmup: 2, reps },
      );
    }
    a.dispose();
    b.dispose();
  }
  for (const f of Object.values(fns)) f.dispose();
  reportToParent({
    threads: childThreads(),
    load: finishLoad(),
    times,
  } satisfies ChildResult);
}

async function parent(quick: boolean): Promise<void> {
  const preflight = requireTorchBaseline();
  const start = load1();
  const rounds = quick ? 1 : 3;
  const configs = THREADS.flatMap((threads) =>
    (["rankwise", "pytorch"] as const).map((engine) => ({ engine, threads })),
  );
  const results = await alternate(configs, rounds, ({ engine, threads }, r) => {
    log(`matmul: round ${r + 1}/${rounds}, ${engine}, ${threads} thread(s)`);
    const extra = quick ? ["--quick"] : [];
    return engine === "rankwise"
      ? runScript<ChildResult>("bench/matmul.ts", threads, extra)
      : runPython<ChildResult>("bench/torch_matmul.py", ["--threads", String(threads), ...extra]);
  });
  const runsOf = (engine: Engine, threads: number) =>
    results[configs.findIndex((c) => c.engine === engine && c.threads === threads)]!;
  const baseline = baselineRecord(
    preflight,
    THREADS.flatMap((threads) => runsOf("pytorch", threads)).map((res) => ({
      threads: res.threads,
      blas: res.blas!,
    })),
  );
  const rows = [];
  for (const op of OPS) {
    for (const n of SIZES) {
      const flops = 2 * n ** 3;
      const measure = (runs: ChildResult[]) => {
        const all = runs.flatMap((res) => res.times[key(op, n)]!);
        const ms = median(all);
        return {
          medianMs: round(ms, 3),
          bestMs: round(Math.min(...all), 3),
          gflops: round(flops / ms / 1e6, 1),
          roundMedianGflops: runs.map((res) =>
            round(flops / median(res.times[key(op, n)]!) / 1e6, 1),
          ),
          calls: all.length,
        };
      };
      const perThreads = THREADS.map((threads) => {
        const rankwise = measure(runsOf("rankwise", threads));
        const pytorch = measure(runsOf("pytorch", threads));
        return {
          threads,
          ...rankwise,
          pytorch,
          rankwiseOverPytorch: round(rankwise.gflops / pytorch.gflops, 2),
        };
      });
      rows.push({
        op,
        n,
        results: perThreads,
        speedup2v1: round(perThreads[0]!.medianMs / perThreads[1]!.medianMs, 2),
      });
    }
  }
  writeResult("matmul", {
    benchmark: "matmul",
    command: `node --import tsx bench/matmul.ts${quick ? " --quick" : ""}`,
    date: new Date().toISOString(),
    machine: machine(),
    load: { start, end: load1() },
    baseline,
    rounds,
    childLoads: configs.flatMap((c) =>
      runsOf(c.engine, c.threads).map((res) => ({
        engine: c.engine,
        threads: c.threads,
        ...res.load,
      })),
    ),
    rows,
  });
}

const { values } = parseArgs({ options: { quick: { type: "boolean", default: false } } });
if (isChild()) await child(values.quick!);
else await parent(values.quick!).catch(fail);
