/**
 * docs/benchmarks.md's section for bench/optimizers2.ts (issue 17's round-two methods against
 * AdamW, Muon and GaLore on the default preset): training loss against steps and against time
 * per group of methods, a table of state, timed step, losses and peak RSS, validation loss at
 * intervals, and each paper's claim beside what this run shows.
 *
 * Loss against time is loss against step × the timing pass's ms/step (the long run's own wall
 * clock is not used: the machine is shared). bench/report.ts calls {@link optimizers2Section}
 * with the common header.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lineChart } from "./svg-chart.js";

/** Result files are plain JSON. */
type Json = any;

const fmt = (x: number | null | undefined, digits = 3): string =>
  x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits);
const signed = (x: number | null | undefined, digits = 3): string =>
  x === null || x === undefined || !Number.isFinite(x)
    ? "–"
    : `${x > 0 ? "+" : ""}${x.toFixed(digits)}`;
const bytes = (n: number | undefined): string =>
  n === undefined
    ? "–"
    : n >= 2 ** 20
      ? `${(n / 2 ** 20).toFixed(2)} MiB`
      : `${(n / 2 ** 10).toFixed(1)} KiB`;
/** A markdown table; numeric columns (all but the first, unless `left`) align right. */
const table = (head: string[], rows: (string | number)[][], left = false): string =>
  [
    `| ${head.join(" | ")} |`,
    `| ${head.map((_h, i) => (i === 0 || left ? "---" : "---:")).join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");

/** Chart groups: each shows the baselines beside its own methods. */
const GROUPS: { group: string; title: string }[] = [
  { group: "low-rank", title: "low-rank and sparse" },
  { group: "sampling", title: "block and layer sampling, MARS" },
  { group: "second-order", title: "second-order and geometry" },
];

/** What the run shows for one method, in words read off its row. */
/** Validation loss that moves less than this (nats) from the first evaluation on "stalls". */
const STALL = 0.15;

/** What the run shows for one method, in words read off its row and validation series. */
function measured(t: Json, base: Json | undefined, series: Json | undefined): string {
  if (t.error) return `failed: ${t.error} (its error is in the run's log)`;
  const evals = (series?.eval ?? []).filter((e: Json) => Number.isFinite(e.valLoss));
  const first = evals[0];
  const stalled =
    evals.length > 2 &&
    first.valLoss - Math.min(...evals.slice(1).map((e: Json) => e.valLoss)) < STALL;
  const parts = [
    `val ${fmt(t.valLoss)}${base && t.label !== base.label ? ` (${signed(t.valDelta)} vs AdamW)` : ""}`,
    `state ${fmt(t.stateRatio, 2)}× AdamW's`,
    `step ${fmt(t.timedRatio, 2)}× AdamW's`,
    ...(stalled
      ? [
          `**stalls**: validation loss within ${STALL} of its step-${first.step} value (${fmt(first.valLoss)}) to the end`,
        ]
      : []),
    ...(t.valLoss - t.bestValLoss > STALL
      ? [
          `**rises**: ends ${fmt(t.valLoss - t.bestValLoss)} above its best evaluation (${fmt(t.bestValLoss)})`,
        ]
      : []),
  ];
  return `${parts.join(", ")}${t.note ? `; ${t.note}` : ""}`;
}

export function optimizers2Section(name: string, r: Json, header: string, docsDir: string): string {
  const b = r.budget;
  const tb = r.timingBudget;
  const base = r.table.find((t: Json) => t.label === r.baseline);
  const timedMs = new Map<string, number>(r.table.map((t: Json) => [t.label, t.timedStepMs]));
  mkdirSync(join(docsDir, "charts"), { recursive: true });
  const charts: string[] = [];
  for (const g of GROUPS) {
    const labels = r.table
      .filter((t: Json) => t.group === "baseline" || t.group === g.group)
      .map((t: Json) => t.label as string);
    const series = r.series.filter((s: Json) => labels.includes(s.label));
    if (
      !series.some((s: Json) => r.table.find((t: Json) => t.label === s.label)?.group === g.group)
    )
      continue;
    const slug = g.group;
    const step = `charts/${name}-${slug}-loss-step.svg`;
    const time = `charts/${name}-${slug}-loss-time.svg`;
    writeFileSync(
      join(docsDir, step),
      lineChart(
        series.map((s: Json) => ({
          label: s.label,
          points: s.train.map((p: Json) => [p.step, p.loss]),
        })),
        { x: "step", y: "training loss" },
      ),
    );
    const timed = series.filter((s: Json) => Number.isFinite(timedMs.get(s.label)));
    writeFileSync(
      join(docsDir, time),
      lineChart(
        timed.map((s: Json) => ({
          label: s.label,
          points: s.train.map((p: Json) => [(p.step * timedMs.get(s.label)!) / 1000, p.loss]),
        })),
        { x: "seconds (step × timed ms/step)", y: "training loss" },
      ),
    );
    charts.push(
      `**${g.title}** (with the baselines):\n\n![training loss against step, ${g.title}](${step})\n![training loss against time, ${g.title}](${time})`,
    );
  }

  const rows = r.table.map((t: Json) => {
    const rounds = (t.timing ?? []).filter((x: Json) => !x.error);
    const loads = rounds.map((x: Json) => fmt(x.load1, 2)).join(", ");
    return [
      t.label,
      `${t.lr}${t.lrNote ? "*" : ""}`,
      Object.keys(t.options ?? {}).length > 0
        ? Object.entries(t.options)
            .map(([k, v]) => `${k}=${v}`)
            .join(" ")
        : "–",
      t.error
        ? "–"
        : `${bytes(t.stateBytes)} (${fmt(t.stateBytesPerParam, 2)} B/param, ${fmt(t.stateRatio, 2)}×)`,
      `${fmt(t.timedStepMs, 0)} (${fmt(t.timedRatio, 2)}×)`,
      loads || "–",
      fmt(t.runStepMs, 0),
      fmt(t.updateMs, 1),
      fmt(t.trainLoss),
      fmt(t.valLoss),
      fmt(t.bestValLoss),
      `${fmt(t.peakRssMiB, 0)} / ${rounds.length > 0 ? fmt(Math.max(...rounds.map((x: Json) => x.peakRssMiB)), 0) : "–"}`,
    ];
  });
  const evalSteps: number[] = [
    ...new Set<number>(r.series.flatMap((s: Json) => s.eval.map((e: Json) => e.step))),
  ].sort((a, c) => a - c);
  const curve = r.series.map((s: Json) => [
    s.label,
    ...evalSteps.map((step) => fmt(s.eval.find((e: Json) => e.step === step)?.valLoss)),
  ]);
  const claims = r.table
    .filter((t: Json) => t.paper !== "baseline")
    .map((t: Json) => [
      t.label,
      t.paper,
      t.claim || "–",
      measured(
        t,
        base,
        r.series.find((s: Json) => s.label === t.label),
      ),
    ]);
  // One sentence per distinct note, naming the methods it covers.
  const byNote = new Map<string, string[]>();
  for (const t of r.table.filter((x: Json) => x.lrNote)) {
    byNote.set(t.lrNote, [...(byNote.get(t.lrNote) ?? []), t.label]);
  }
  const lrNotes = [...byNote].map(([note, labels]) => `${labels.join(", ")}: ${note}`).join("; ");
  const skipped =
    r.skipped.length > 0
      ? `Not run: ${r.skipped.map((s: Json) => `${s.name} (${s.reason})`).join(", ")}.`
      : "";
  const failed = r.table.filter((t: Json) => t.error);
  return `## Round-two optimizers${name.endsWith("-quick") ? " (quick run)" : ""}

\`bench/optimizers2.ts\` (issue 17): the second round's methods against AdamW, Muon and GaLore.
Each trains the \`${b.model}\` preset${r.params ? ` (${r.params.toLocaleString("en-US")} parameters)` : ""} for ${b.steps} steps
through the library's \`train()\` with the trainer's defaults (moby-dick characters, batch
${b.batchSize} × ${b.seqLen}, seed ${b.seed}, 20 warm-up steps then a constant rate, clipping to ${b.clipNorm}),
each in its own process with one thread, at its registry default learning rate except where
marked * (${lrNotes || "none"}). Projection methods run at rank ${r.table.find((t: Json) => t.options?.rank)?.options.rank ?? "(their default)"} (the registry's 128–256 is full rank for
these 128-wide matrices) with a refresh gap of 50 where they have one. ${skipped}

Time is measured apart from the long runs, which share a loaded machine: a timing pass runs
each method for ${tb.warmup} untimed and ${tb.timed} timed steps (a metrics row per step), methods
alternated over ${tb.rounds} round(s), each in a fresh process; "timed ms/step" is the median of
those steps and "load1" the 1-minute load average after each round's timed steps. Loss against
time is loss against step × that ms/step. Work a method does only every k steps (GaLore's and
Q-GaLore's SVD every 50, COAP's re-projection, BAdam's and LISA's switches, M-FAC's and
AdaFisher's warm-up of their windows) falls outside the timed steps unless they land there; the
long run's mean step time ("run ms", under load, evaluation intervals left out) includes it.
"update ms": \`update\` + \`applyUpdates\` alone on the model's parameters (mean of ${b.updateReps ?? 20}). Train
loss: mean of the last 5 logged steps (every ${b.logEvery}); val: ${b.evalBatches} batches at the end; best
val: the lowest of the evaluations every ${b.evalEvery} steps. Peak RSS: long run / timing child.
Ratios are to AdamW. Series: \`bench/results/${name}.json\`.

${header}

${table(
  [
    "method",
    "lr",
    "options",
    "state",
    "timed ms/step",
    "load1",
    "run ms",
    "update ms",
    "train loss",
    "val loss",
    "best val",
    "peak RSS MiB",
  ],
  rows,
)}
${failed.length > 0 ? `\nFailed runs: ${failed.map((t: Json) => `${t.label} (${t.error})`).join("; ")}.\n` : ""}
${charts.join("\n\n")}

Validation loss during training:

${table(["method", ...evalSteps.map((s) => `step ${s}`)], curve)}

BAdam and LISA were proposed for fine-tuning a pre-trained model; here, as every method, they
train from a random initialisation, where leaving most of the network frozen at any time costs
more. "stalls" and "rises" below are read off the validation series (a change under ${STALL} nats
from the first evaluation; an end above the best evaluation by more than that); they mark rows
to look into at these defaults, not settled verdicts on the methods.

The papers' claims beside this run (one seed, a 0.8M-parameter character model and ${b.steps}
steps: differences of a few hundredths of a nat are within run-to-run noise, and the papers'
memory claims are for billion-parameter models whose embeddings and 1-D leaves weigh little):

${table(["method", "paper", "paper's claim", "this run"], claims, true)}
`;
}
