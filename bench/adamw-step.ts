/**
 * AdamW step time: `opt.update` + `applyUpdates` on a tree of four float32 matrices (1M and 4M
 * parameters) and on the default model's parameter shapes, timed until the new parameters and optimizer state are computed
 * (`blockUntilReady`), with one and two wasm threads. Also the optimizer-state size
 * (`stateBytes`; expected 8 bytes per parameter: m and v in float32) and the effective memory
 * traffic (AdamW reads p, g, m, v and writes p, m, v: 28 bytes per parameter).
 *
 *   node --import tsx bench/adamw-step.ts [--quick]
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

/**
 * Four equal square matrices per tree, and the leaves of the default model (38 arrays of 0.8M
 * parameters in all, mostly small: per-leaf dispatch costs show there).
 */
const TREES = [
  { label: "1M", side: 512, description: "4 × 512²" },
  { label: "4M", side: 1024, description: "4 × 1024²" },
  { label: "0.8M", side: 0, description: "default model's 38 leaves" },
];
const MODEL_VOCAB = 89;
const THREADS = [1, 2];
const BYTES_TOUCHED_PER_PARAM = 28;

interface ChildResult {
  threads: number;
  load: LoadRecord;
  trees: {
    label: string;
    leaves: number;
    params: number;
    stateBytes: number;
    times: number[];
  }[];
}

async function child(quick: boolean): Promise<void> {
  const finishLoad = loadProbe();
  const { jax } = await startEngine();
  const { random } = jax;
  const { adamw, applyUpdates, tree } = await import("../src/index.js");
  const trees: ChildResult["trees"] = [];
  const { llamaParamShapes, llamaPreset } = await import("../src/nn/index.js");
  for (const { label, side } of TREES) {
    const shapes =
      side > 0
        ? Array.from({ length: 4 }, () => [side, side])
        : Object.values(llamaParamShapes(llamaPreset("default", MODEL_VOCAB)));
    const keys = random.split(random.key(side), 2 * shapes.length);
    let params: Record<string, any> = {};
    const grads: Record<string, any> = {};
    shapes.forEach((shape, i) => {
      params[`w${i}`] = random.normal(keys.ref.slice(i), shape).mul(0.02);
      grads[`w${i}`] = random.normal(keys.ref.slice(shapes.length + i), shape).mul(1e-3);
    });
    keys.dispose();
    const opt = adamw({ learningRate: 1e-3, weightDecay: 0.01 });
    let state = opt.init(tree.share(params));
    const ready = async () => {
      const arrays = [...tree.leaves(params), ...tree.leaves(state)].filter(tree.isArray);
      await Promise.all(arrays.map((a) => a.blockUntilReady()));
    };
    await ready();
    const reps = quick ? 4 : side === 1024 ? 10 : 20;
    const times = await timeRuns(
      async () => {
        const [updates, next] = opt.update(tree.share(grads), state, tree.share(params));
        state = next;
        params = applyUpdates(params, updates) as Record<string, any>;
        await ready();
      },
      { warmup: 3, reps },
    );
    trees.push({
      label,
      leaves: shapes.length,
      params: tree.size(params),
      stateBytes: tree.stateBytes(state),
      times,
    });
    tree.dispose(params);
    tree.dispose(grads);
    tree.dispose(state);
  }
  reportToParent({
    threads: childThreads(),
    load: finishLoad(),
    trees,
  } satisfies ChildResult);
}

async function parent(quick: boolean): Promise<void> {
  const start = load1();
  const rounds = quick ? 1 : 2;
  const byThreads = await alternate(THREADS, rounds, (threads, r) => {
    log(`adamw-step: round ${r + 1}/${rounds}, ${threads} thread(s)`);
    return runScript<ChildResult>("bench/adamw-step.ts", threads, quick ? ["--quick"] : []);
  });
  const rows = TREES.map(({ label, description }, t) => {
    const first = byThreads[0]![0]!.trees[t]!;
    const perThreads = THREADS.map((threads, i) => {
      const all = byThreads[i]!.flatMap((res) => res.trees[t]!.times);
      const ms = median(all);
      return {
        threads,
        medianMs: round(ms, 3),
        bestMs: round(Math.min(...all), 3),
        msPerMillionParams: round(ms / (first.params / 1e6), 3),
        effectiveGBps: round((BYTES_TOUCHED_PER_PARAM * first.params) / ms / 1e6, 2),
        steps: all.length,
      };
    });
    return {
      tree: `${label} (${description})`,
      leaves: first.leaves,
      params: first.params,
      stateBytes: first.stateBytes,
      stateBytesPerParam: round(first.stateBytes / first.params, 3),
      results: perThreads,
      speedup2v1: round(perThreads[0]!.medianMs / perThreads[1]!.medianMs, 2),
    };
  });
  writeResult("adamw-step", {
    benchmark: "adamw-step",
    command: `node --import tsx bench/adamw-step.ts${quick ? " --quick" : ""}`,
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
