/**
 * A self-contained report.html: no external scripts, styles or fonts, so it opens offline.
 *
 * The runs are embedded as JSON in <script type="application/json" id="rankwise-data"> (with
 * "<", ">", "&", U+2028 and U+2029 written as \u escapes, so no text can close the element) and
 * drawn by the inline script bundled from ./client/main.ts. Tables (summary, run settings,
 * config) and samples are plain HTML rendered here, escaped, and readable without JavaScript.
 */
import { clientScript } from "./client-script.js";
import { monitorCharts } from "./monitor-charts.js";
import type { ChartSpec, ReportPayload } from "./payload.js";
import { settingsRows } from "./settings.js";
import { runSummary } from "./summary.js";
import type { ReportOptions, RunData, SampleRow } from "./types.js";

export type { ChartSpec, ReportPayload, SeriesSpec } from "./payload.js";

const LOSS_SERIES: ChartSpec["series"] = [
  { type: "train", y: "loss", label: "train" },
  { type: "eval", y: "valLoss", label: "validation", dashed: true },
];

export const REPORT_CHARTS: readonly ChartSpec[] = [
  {
    id: "loss-step",
    title: "Loss vs step",
    x: "step",
    xLabel: "step",
    yLabel: "loss (nats/token)",
    series: LOSS_SERIES,
  },
  {
    id: "loss-time",
    title: "Loss vs wall-clock time",
    x: "elapsed",
    xLabel: "time",
    xKind: "seconds",
    yLabel: "loss (nats/token)",
    series: LOSS_SERIES,
  },
  {
    id: "lr",
    title: "Learning rate",
    x: "step",
    xLabel: "step",
    yLabel: "learning rate",
    zero: true,
    series: [{ type: "train", y: "lr", label: "learning rate" }],
  },
  {
    id: "grad-norm",
    title: "Gradient norm",
    x: "step",
    xLabel: "step",
    yLabel: "global L2 norm",
    series: [
      { type: "train", y: "gradNorm", label: "gradient norm" },
      // "spike" rows are written at every spike, logged step or not.
      { type: "spike", y: "gradNorm", label: "spike", markers: true },
    ],
  },
  {
    id: "stability",
    title: "Skipped steps and gradient spikes",
    x: "step",
    xLabel: "step",
    yLabel: "count so far",
    zero: true,
    series: [
      { type: "skip", label: "skipped steps", count: true },
      { type: "spike", label: "gradient spikes", count: true, dashed: true },
    ],
  },
  {
    id: "tokens-per-sec",
    title: "Throughput",
    x: "step",
    xLabel: "step",
    yLabel: "tokens/s",
    zero: true,
    series: [{ type: "train", y: "tokensPerSec", label: "tokens/s" }],
  },
  {
    id: "state-bytes",
    title: "Optimizer-state memory",
    x: "step",
    xLabel: "step",
    yLabel: "optimizer state",
    yKind: "bytes",
    zero: true,
    series: [{ type: "train", y: "stateBytes", label: "optimizer state" }],
  },
];

/**
 * Charts of runs on several domains (train/mixing/): the mixing weights after each logged step
 * and each domain's validation loss, one line per domain. A report shows them only when some
 * run logged those fields.
 */
export const DOMAIN_CHARTS: readonly ChartSpec[] = [
  {
    id: "domain-weights",
    title: "Domain weights",
    x: "step",
    xLabel: "step",
    yLabel: "weight",
    zero: true,
    series: [{ type: "train", each: "domainWeights", label: "weight" }],
  },
  {
    id: "domain-val-loss",
    title: "Validation loss by domain",
    x: "step",
    xLabel: "step",
    yLabel: "loss (nats/token)",
    series: [{ type: "eval", each: "valLossByDomain", label: "validation" }],
  },
];

/** The charts of `runs`: every REPORT_CHARTS one, and the domain charts when they have data. */
function chartsFor(runs: RunData[]): ChartSpec[] {
  const has = (type: string, key: string) =>
    runs.some((r) => r.metrics.some((row) => row?.type === type && key in row));
  return [
    ...REPORT_CHARTS,
    ...DOMAIN_CHARTS.filter((c) => c.series.some((s) => has(s.type, s.each!))),
    ...monitorCharts(runs),
  ];
}

/** Tableau 10: distinguishable colours for up to ten runs (then they repeat). */
export const RUN_COLORS = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
] as const;

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escape text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** JSON that is safe inside a <script> element: nothing in it can close the element. */
export function scriptJson(value: unknown): string {
  const json = JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v));
  return json
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

// ---- formatting for the tables ----

function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  while (u < units.length - 1 && Math.abs(bytes) >= 1024 ** (u + 1)) u++;
  return u === 0 ? `${bytes} B` : `${(bytes / 1024 ** u).toFixed(2)} ${units[u]}`;
}

function formatSeconds(s: number): string {
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(2)} h`;
}

const formatLoss = (v: number) => v.toFixed(4);

interface Column {
  key: string;
  label: string;
  format: (v: number) => string;
}

const SUMMARY_COLUMNS: Column[] = [
  { key: "steps", label: "steps", format: (v) => String(v) },
  { key: "finalTrainLoss", label: "final train loss", format: formatLoss },
  { key: "baseValLoss", label: "base val loss (before)", format: formatLoss },
  { key: "finalValLoss", label: "final val loss", format: formatLoss },
  { key: "bestValLoss", label: "best val loss", format: formatLoss },
  { key: "finalBitsPerChar", label: "val bits/char", format: formatLoss },
  { key: "learningRate", label: "learning rate", format: (v) => String(v) },
  { key: "skippedSteps", label: "skipped steps", format: (v) => String(v) },
  { key: "gradSpikes", label: "gradient spikes", format: (v) => String(v) },
  { key: "tokensPerSec", label: "tokens/s (median)", format: (v) => v.toFixed(0) },
  { key: "stepTime", label: "step time (median)", format: (v) => `${(1000 * v).toFixed(0)} ms` },
  {
    key: "trainableParameters",
    label: "trainable parameters",
    format: (v) => v.toLocaleString("en-US"),
  },
  { key: "trainableShare", label: "share of base", format: (v) => `${(100 * v).toPrecision(3)}%` },
  { key: "adapterBytes", label: "adapter on disk", format: formatBytes },
  { key: "stateBytes", label: "optimizer state", format: formatBytes },
  { key: "wallTime", label: "wall time", format: formatSeconds },
];

function cell(key: string, value: number | string | undefined, format?: (v: number) => string) {
  if (value === undefined) return `<td data-key="${escapeHtml(key)}" class="missing">–</td>`;
  const shown =
    typeof value === "number" && format && Number.isFinite(value) ? format(value) : String(value);
  return `<td data-key="${escapeHtml(key)}" data-value="${escapeHtml(String(value))}">${escapeHtml(shown)}</td>`;
}

function summaryTable(runs: RunData[]): string {
  const summaries = runs.map(runSummary);
  const known = new Set(SUMMARY_COLUMNS.map((c) => c.key));
  const extra = [...new Set(summaries.flatMap((s) => Object.keys(s)))].filter((k) => !known.has(k));
  const columns = [
    ...SUMMARY_COLUMNS.filter((c) => summaries.some((s) => s[c.key] !== undefined)),
    ...extra.map((key) => ({ key, label: key, format: (v: number) => String(v) })),
  ];
  const head = columns.map((c) => `<th scope="col">${escapeHtml(c.label)}</th>`).join("");
  const body = runs
    .map((run, i) => {
      const s = summaries[i]!;
      const cells = columns.map((c) => cell(c.key, s[c.key], c.format)).join("");
      return `<tr data-run="${escapeHtml(run.name)}" data-run-index="${i}"><th scope="row">${swatch(i)}${escapeHtml(run.name)}</th>${cells}</tr>`;
    })
    .join("\n");
  return `<table class="summary" id="summary"><thead><tr><th scope="col">run</th>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const swatch = (i: number) =>
  `<span class="swatch" style="background:${RUN_COLORS[i % RUN_COLORS.length]}"></span>`;

function configValue(v: unknown): string {
  if (v === undefined) return "–";
  if (typeof v === "string") return v;
  return JSON.stringify(v, (_, x) => (typeof x === "bigint" ? x.toString() : x)) ?? String(v);
}

/** A table of settings, one column per run; with several runs, rows that differ are marked. */
function settingsTable(id: string, runs: RunData[], rows: [string, unknown[]][]): string {
  const head = runs
    .map((r, i) => `<th scope="col">${swatch(i)}${escapeHtml(r.name)}</th>`)
    .join("");
  const body = rows
    .map(([key, raw]) => {
      const values = raw.map(configValue);
      // With several runs, mark the settings that differ: that is what a comparison is about.
      const differs = runs.length > 1 && new Set(values).size > 1;
      const cells = values.map((v) => `<td>${escapeHtml(v)}</td>`).join("");
      return `<tr${differs ? ' class="differs"' : ""}><th scope="row">${escapeHtml(key)}</th>${cells}</tr>`;
    })
    .join("\n");
  return `<table class="config" id="${id}"><thead><tr><th scope="col">setting</th>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function configTable(runs: RunData[]): string {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.config ?? {})))];
  if (keys.length === 0) return "<p>No configuration recorded.</p>";
  return settingsTable(
    "config",
    runs,
    keys.map((key) => [key, runs.map((r) => r.config?.[key])]),
  );
}

/** What each run ran with (its start row): effective learning rate, resolved options, data. */
function runSettingsSection(runs: RunData[]): string {
  const rows = settingsRows(runs);
  if (rows.length === 0) return "";
  return `<section id="settings-section"><h2>Run settings (as resolved at the start)</h2>
<div class="table-wrap">${settingsTable("settings", runs, rows)}</div>
</section>`;
}

/** The last few text samples of each run. */
function samplesSection(runs: RunData[], perRun = 5): string {
  const blocks = runs.flatMap((run, i) => {
    const samples = run.metrics.filter(
      (r): r is SampleRow => r.type === "sample" && typeof (r as SampleRow).text === "string",
    );
    if (samples.length === 0) return [];
    const items = samples
      .slice(-perRun)
      .map(
        (s) =>
          `<div class="sample"><div class="sample-step">step ${escapeHtml(String(s.step))}</div><pre>${escapeHtml(s.text)}</pre></div>`,
      )
      .join("\n");
    return [`<h3>${swatch(i)}${escapeHtml(run.name)}</h3>\n${items}`];
  });
  if (blocks.length === 0) return "";
  return `<section id="samples"><h2>Samples</h2>\n${blocks.join("\n")}\n</section>`;
}

const STYLE = `
:root { color-scheme: light; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #fff; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1240px; padding: 24px 28px 48px; color: var(--fg); background: var(--bg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.subtitle { color: var(--muted); margin: 0 0 12px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 18px; }
figure.chart { position: relative; margin: 0; padding: 10px 12px 8px; border: 1px solid var(--line); border-radius: 8px; }
figure.chart figcaption { font-weight: 600; font-size: 15px; margin-bottom: 4px; }
.plot svg { width: 100%; height: auto; display: block; overflow: visible; }
.plot .grid line { stroke: #e8ecf0; stroke-width: 1; }
.plot .frame { fill: none; stroke: #9aa4ad; stroke-width: 1; }
.plot .tick { font-size: 11.5px; fill: var(--muted); font-variant-numeric: tabular-nums; }
.plot .axis-title { font-size: 12.5px; fill: var(--fg); }
.plot .empty { font-size: 14px; fill: var(--muted); }
.plot .guide { stroke: #8c959f; stroke-width: 1; stroke-dasharray: 3 3; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 12.5px; margin-top: 2px; }
.legend .key { display: inline-flex; align-items: center; gap: 6px; }
.tip { position: absolute; pointer-events: none; background: rgba(255,255,255,0.96); border: 1px solid var(--line);
  border-radius: 6px; padding: 6px 8px; font-size: 12px; box-shadow: 0 2px 8px rgba(0,0,0,0.12); white-space: nowrap; z-index: 2; }
.tip-head { color: var(--muted); margin-bottom: 2px; }
.tip .dot, .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th[scope="row"], table.config td, table.config th, thead th:first-child { text-align: left; }
thead th { border-bottom: 2px solid #9aa4ad; }
table.config td { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; white-space: pre-wrap; }
tr.differs th, tr.differs td { background: #fff8c5; }
.table-wrap { overflow-x: auto; }
td.missing { color: var(--muted); }
.sample { margin: 6px 0 12px; }
.sample-step { color: var(--muted); font-size: 12px; }
.sample pre { margin: 2px 0 0; padding: 8px 10px; background: #f6f8fa; border-radius: 6px; white-space: pre-wrap; word-break: break-word;
  font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
noscript p { color: #9a6700; }
`;

/** The report page as a string. */
export function renderReport(runs: RunData[], opts: ReportOptions): string {
  if (!Array.isArray(runs) || runs.length === 0) {
    throw new RangeError("renderReport: runs must be a non-empty array");
  }
  for (const [i, run] of runs.entries()) {
    if (typeof run?.name !== "string" || !Array.isArray(run.metrics)) {
      throw new TypeError(`renderReport: runs[${i}] needs a name and a metrics array`);
    }
  }
  const title = opts?.title ?? "Rankwise report";
  const payload: ReportPayload = {
    runs: runs.map((r) => ({
      name: r.name,
      config: r.config ?? {},
      metrics: r.metrics,
      summary: runSummary(r),
    })),
    charts: chartsFor(runs),
    colors: RUN_COLORS,
  };
  const figures = payload.charts
    .map(
      (c) =>
        `<figure class="chart" data-chart="${c.id}"><figcaption>${escapeHtml(c.title)}</figcaption>` +
        `<div class="plot"></div><div class="legend"></div><div class="tip" hidden></div></figure>`,
    )
    .join("\n");
  const names = runs.map((r) => r.name).join(", ");
  const subtitle = `${runs.length} run${runs.length === 1 ? "" : "s"}: ${names}`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="subtitle">${escapeHtml(subtitle)}</p>
<noscript><p>The charts need JavaScript; the tables below do not.</p></noscript>
<section id="charts"><h2>Training curves</h2>
<div class="charts">
${figures}
</div>
</section>
<section id="summary-section"><h2>Summary</h2>
<div class="table-wrap">${summaryTable(runs)}</div>
</section>
${runSettingsSection(runs)}
<section id="config-section"><h2>Configuration</h2>
<div class="table-wrap">${configTable(runs)}</div>
</section>
${samplesSection(runs)}
<script type="application/json" id="rankwise-data">${scriptJson(payload)}</script>
<script>${clientScript()}</script>
</body>
</html>
`;
}
