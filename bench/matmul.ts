/**
 * Matmul throughput of the wasm backend: GFLOP/s (2n³ flops) of jit-compiled `np.matmul` for
 * square float32 A·B, A·Bᵀ and Aᵀ·B (the transpose taken inside the jit, so the kernel sees the
 * strided operand), sizes 256, 512 and 1024, with one and two wasm threads.
 *
 * Each timed call runs the matmul and waits for its result (`blockUntilReady`, which with a
 * thread pool waits for the workers). Thread counts run in separate child processes, alternating
 * over rounds; the table gives the median over all timed calls of all rounds.
 *
 *   node --import tsx bench/matmul.ts [--quick]
 */
import { parseArgs } from "node:util";
import {
  alternate,
  childThreads,
  isChild,
  type LoadRecord,
  load1,
  loadProbe,
  log,
  machine,
  median,
  reportToParent,
  round,
  runScript,
  timeRuns,
  writeResult,
} from "./common.js";
import { startEngine } from "./engine.js";

const OPS = ["A·B", "A·Bᵀ", "Aᵀ·B"] as const;
type Op = (typeof OPS)[number];
const SIZES = [256, 512, 1024];
const THREADS = [1, 2];

interface ChildResult {
  threads: number;
  load: LoadRecord;
  /** Milliseconds of each timed call, per op and size. */
  times: Record<string, number[]>;
}

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
  const start = load1();
  const rounds = quick ? 1 : 3;
  const byThreads = await alternate(THREADS, rounds, (threads, r) => {
    log(`matmul: round ${r + 1}/${rounds}, ${threads} thread(s)`);
    return runScript<ChildResult>("bench/matmul.ts", threads, quick ? ["--quick"] : []);
  });
  const rows = [];
  for (const op of OPS) {
    for (const n of SIZES) {
      const flops = 2 * n ** 3;
      const perThreads = THREADS.map((threads, i) => {
        const all = byThreads[i]!.flatMap((res) => res.times[key(op, n)]!);
        const ms = median(all);
        return {
          threads,
          medianMs: round(ms, 3),
          bestMs: round(Math.min(...all), 3),
          gflops: round(flops / ms / 1e6, 1),
          roundMedianGflops: byThreads[i]!.map((res) =>
            round(flops / median(res.times[key(op, n)]!) / 1e6, 1),
          ),
          calls: all.length,
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
    rounds,
    childLoads: byThreads.flat().map((r) => ({ threads: r.threads, ...r.load })),
    rows,
  });
}

const { values } = parseArgs({ options: { quick: { type: "boolean", default: false } } });
if (isChild()) await child(values.quick!);
else await parent(values.quick!);
