/**
 * docs/benchmarks.md's section for bench/memory.ts: memory of a long `train` run on one thread
 * — each sampled quantity at the fit's first step and at the end, its change and its
 * least-squares slope per 1,000 steps, a chart against steps, and which quantities grew.
 * bench/report.ts calls {@link memorySection} with the common header.
 *
 * The wasm heap and the live-buffer count are exact (no collector between them and the
 * measurement): one that still rises in the second half of the samples grows; one that rose only
 * earlier paid a one-time cost (the first evaluation's set-up, say). RSS and V8's heap move with
 * garbage collection: their fitted rise over the run is growth only above half the spread of
 * their samples and above 1 MiB.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { lineChart } from "./svg-chart.js";

/** Result files are plain JSON. */
type Json = any;

const fmt = (x: number | null | undefined, digits = 1): string =>
  x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits);
const signed = (x: number | null, digits = 1) =>
  x === null ? "–" : x > 0 ? `+${x.toFixed(digits)}` : x.toFixed(digits);
const table = (head: string[], rows: (string | number)[][]): string =>
  [
    `| ${head.join(" | ")} |`,
    `| ${head.map((_h, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");

const LABELS: Record<string, string> = {
  rssMiB: "resident set (RSS), MiB",
  wasmHeapMiB: "jax-js wasm heap, MiB",
  liveBuffers: "jax-js live buffers",
  jsHeapUsedMiB: "V8 heap used, MiB",
  externalMiB: "V8 external, MiB",
  arrayBuffersMiB: "ArrayBuffers, MiB",
};
const EXACT = new Set(["wasmHeapMiB", "liveBuffers"]);
/** Fitted rises smaller than this over the whole run are not called growth. */
const FLOOR_MIB = 1;

export function memorySection(name: string, r: Json, header: string, docsDir: string): string {
  const fitted = r.samples.filter((s: Json) => s.step >= r.fitFrom);
  const spread = (q: string): number => {
    const ys = fitted.map((s: Json) => s[q]).filter((y: number | null) => y !== null);
    return ys.length > 0 ? Math.max(...ys) - Math.min(...ys) : Number.NaN;
  };
  const steps = r.toStep - r.fromStep;
  // An exact quantity leaks if it still rises in the second half of the fitted samples; a rise
  // that stops earlier is a one-time cost (the first evaluation runs right after step 100's
  // sample, for instance).
  const late = (g: Json) => g.lastRise !== null && g.lastRise > r.fromStep + steps / 2;
  const grew = r.growth.filter((g: Json) =>
    g.change === null
      ? false
      : EXACT.has(g.quantity)
        ? g.change > 0 && late(g)
        : // A fitted rise over the run above half the samples' spread (GC's swings) and above
          // FLOOR_MIB is a trend.
          (g.per1000 * steps) / 1000 > Math.max(FLOOR_MIB, spread(g.quantity) / 2),
  );
  const once = r.growth.filter(
    (g: Json) => EXACT.has(g.quantity) && g.change > 0 && !grew.includes(g),
  );
  const chart = `charts/${name}.svg`;
  writeFileSync(
    join(docsDir, chart),
    lineChart(
      ["rssMiB", "wasmHeapMiB", "jsHeapUsedMiB", "externalMiB"].map((q) => ({
        label: LABELS[q]!.replace(/, MiB$/, ""),
        points: r.samples.map((s: Json) => [s.step, s[q] ?? Number.NaN]),
      })),
      { x: "step", y: "MiB" },
    ),
  );
  const rows = r.growth.map((g: Json) => {
    const digits = g.quantity === "liveBuffers" ? 0 : 1;
    return [
      LABELS[g.quantity] ?? g.quantity,
      fmt(g.from, digits),
      fmt(g.to, digits),
      signed(g.change, digits),
      signed(g.per1000, digits === 0 ? 1 : 2),
      fmt(spread(g.quantity), digits),
      EXACT.has(g.quantity) ? (g.lastRise ?? "none") : "–",
    ];
  });
  const rss = r.growth.find((g: Json) => g.quantity === "rssMiB");
  const onceText =
    once.length > 0
      ? ` ${once.map((g: Json) => `${LABELS[g.quantity]} rose by ${signed(g.change, g.quantity === "liveBuffers" ? 0 : 2)} up to step ${g.lastRise}, then stayed (a one-time cost)`).join("; ")}.`
      : "";
  const verdict =
    grew.length === 0
      ? `Nothing kept growing from step ${r.fromStep} to ${r.toStep}: RSS moved by ${signed(rss.change)} MiB (fitted ${signed(rss.per1000, 2)} MiB per 1,000 steps, against its samples' spread of ${fmt(spread("rssMiB"))} MiB).${onceText}`
      : `Kept growing from step ${r.fromStep} to ${r.toStep}: ${grew
          .map(
            (g: Json) =>
              `${LABELS[g.quantity]} (${signed(g.change)}, ${signed(g.per1000, 2)} per 1,000 steps)`,
          )
          .join("; ")}. RSS: ${fmt(rss.from)} → ${fmt(rss.to)} MiB.${onceText}`;
  return `## Memory over a long run${r.quick ? " (quick run)" : ""}: ${r.model} preset, ${r.steps} steps, one thread

\`bench/memory.ts\`: the library's \`train\` (what \`rankwise train\` runs, with its defaults: evaluation every
100 steps, checkpoints every 200, metrics, report) on the ${r.model} preset
(${r.params.toLocaleString("en-US")} parameters) for ${r.steps} steps with \`RANKWISE_THREADS=1\`; every ${r.every}
steps the trainer's gradient hook samples the process inside the step (after the gradient, before
the optimizer), right after a forced full garbage collection, so that V8's swings between
collections do not hide a slow leak. The fit starts at step ${r.fitFrom}, when the training step's jit caches and the
optimizer state exist; the first evaluation runs right after that step's sample. Peak RSS over the run: ${fmt(r.peakRssMiB)} MiB; final training loss
${fmt(r.trainLoss, 3)}, validation loss ${fmt(r.valLoss, 3)}; ${fmt(r.seconds, 0)} s of training.

${header}

${table(
  [
    "quantity",
    `step ${r.fromStep}`,
    `step ${r.toStep}`,
    "change",
    "least-squares slope per 1,000 steps",
    `spread of samples from step ${r.fitFrom}`,
    "last rise (step)",
  ],
  rows,
)}

${verdict} The wasm heap and the live-buffer count are exact: they count as growing when they
still rise in the second half of the samples. The others still move with what V8 and the allocator keep
between collections, so their fitted rise over the run counts as growth only when it exceeds both half of their
samples' spread and ${FLOOR_MIB} MiB.

![memory against steps](${chart})
`;
}
