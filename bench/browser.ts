/**
 * Training throughput in the browser: tokens per second of full training steps (jit'ed loss and
 * gradient, global-norm clip to 1, AdamW, params + updates, loss read back) of the tiny and
 * small presets in headless Chromium, on WebGPU (SwiftShader, Chromium's software adapter: this
 * machine has no GPU) and on wasm in the same page, beside the same step in Node on wasm. The step
 * is the browser suite's (`train` in test/browser/page/entry.ts), bundled by esbuild and served
 * from loopback as in test/browser/session.ts; Node runs that same function in a child process.
 * Both wasm figures are single-threaded (the page is not cross-origin isolated, so jax-js has no
 * threads there; the Node child gets RANKWISE_THREADS=1). Batches are a fixed counting pattern
 * (the model and step cost do not depend on the text). Untimed warm-up steps compile the jit.
 *
 *   node --import tsx bench/browser.ts [--quick]
 */
import { parseArgs } from "node:util";
import type { TrainSpec } from "../test/browser/page/entry.js";
import { chromiumAvailable, openHarness } from "../test/browser/session.js";
import {
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
  runScript,
  writeResult,
} from "./common.js";
import { startEngine } from "./engine.js";

const VOCAB = 80; // about a character vocabulary
const SHAPES: Record<"tiny" | "small", { batch: number; seq: number }> = {
  tiny: { batch: 8, seq: 32 },
  small: { batch: 8, seq: 64 },
};
const WARMUP = 3;

interface Trained {
  device: string;
  losses: number[];
  stepMs: number[];
  params: number;
}

interface Row {
  where: "browser" | "node";
  device: "webgpu" | "wasm";
  model: string;
  params: number;
  batch: number;
  seqLen: number;
  stepMs: number[];
  medianStepMs: number;
  tokensPerSec: number;
  roundTokensPerSec: number[];
  childLoads: LoadRecord[];
}

const spec = (model: "tiny" | "small", steps: number): TrainSpec => ({
  preset: model,
  vocab: VOCAB,
  ...SHAPES[model],
  steps,
  warmup: WARMUP,
  learningRate: 1e-3,
});

/** Child: the same step in Node on wasm. */
async function child(model: "tiny" | "small", steps: number): Promise<void> {
  const finishLoad = loadProbe();
  await startEngine();
  const { train } = await import("../test/browser/page/entry.js");
  const result = await train(spec(model, steps), "wasm");
  reportToParent({ ...result, load: finishLoad() });
}

function row(
  where: Row["where"],
  device: Row["device"],
  model: "tiny" | "small",
  rounds: (Trained & { load: LoadRecord })[],
): Row {
  const { batch, seq } = SHAPES[model];
  const all = rounds.flatMap((r) => r.stepMs);
  const tps = (ms: number) => round((batch * seq * 1000) / ms, 0);
  return {
    where,
    device,
    model,
    params: rounds[0].params,
    batch,
    seqLen: seq,
    stepMs: all.map((x) => round(x, 1)),
    medianStepMs: round(median(all), 1),
    tokensPerSec: tps(median(all)),
    roundTokensPerSec: rounds.map((r) => tps(median(r.stepMs))),
    childLoads: rounds.map((r) => r.load),
  };
}

async function parent(quick: boolean): Promise<void> {
  if (!chromiumAvailable()) throw new Error("Chromium not found (install Debian's chromium)");
  const steps = quick ? 3 : 8;
  const roundsN = quick ? 1 : 2;
  const start = load1();
  const harness = await openHarness();
  const rows: Row[] = [];
  try {
    log(`browser adapter: ${JSON.stringify(harness.adapter)}`);
    for (const model of ["tiny", "small"] as const) {
      const byDevice: Record<string, (Trained & { load: LoadRecord })[]> = {
        webgpu: [],
        wasm: [],
        node: [],
      };
      for (let r = 0; r < roundsN; r++) {
        for (const device of ["webgpu", "wasm"] as const) {
          const finish = loadProbe();
          const got = await harness.call<Trained>("train", spec(model, steps), device);
          if (got.device !== device) throw new Error(`${device} run ran on ${got.device}`);
          byDevice[device].push({ ...got, load: finish() });
          log(`${model} browser ${device}: step ms ${got.stepMs.map((x) => x.toFixed(0))}`);
        }
        const node = await runScript<Trained & { load: LoadRecord }>("bench/browser.ts", 1, [
          "--model",
          model,
          "--steps",
          String(steps),
        ]);
        byDevice.node.push(node);
        log(`${model} node wasm: step ms ${node.stepMs.map((x) => x.toFixed(0))}`);
      }
      rows.push(row("browser", "webgpu", model, byDevice.webgpu));
      rows.push(row("browser", "wasm", model, byDevice.wasm));
      rows.push(row("node", "wasm", model, byDevice.node));
    }
  } finally {
    await harness.close();
  }
  writeResult(quick ? "browser-quick" : "browser", {
    benchmark: "browser",
    command: `npm run bench -- browser${quick ? " --quick" : ""}`,
    date: new Date().toISOString(),
    machine: machine(),
    load: { start, end: load1() },
    adapter: harness.adapter,
    gpu: "none: this machine has no GPU; webgpu is Chromium's SwiftShader (CPU) adapter",
    warmupSteps: WARMUP,
    steps,
    rounds: roundsN,
    vocab: VOCAB,
    measured: rows,
  });
}

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    model: { type: "string" },
    steps: { type: "string" },
  },
});

if (isChild()) {
  await child(values.model as "tiny" | "small", Number(values.steps));
} else {
  await parent(values.quick!).catch(fail);
}
