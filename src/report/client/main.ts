/**
 * The report page's script, bundled by esbuild into one IIFE (`npm run build`) and inlined into
 * report.html, so the page works offline. It reads the JSON payload embedded by html.ts
 * ({runs, charts, colors}: see ../payload.ts) and draws each chart as an SVG: nice-number axes
 * with tick labels, one coloured series per run (validation dashed with markers, events as
 * markers, counts as staircases), a legend, and a hover read-out.
 *
 * Each chart's <figure data-chart="…"> gets data-rendered="true" (or "empty"), and each series
 * <path> carries data-run, data-run-index, data-series and data-points (points drawn), so a test
 * can check the page against the data. Nothing here may contain a less-than sign followed by a
 * slash: inlined, that would end the script element (html.test.ts checks the bundle).
 */
import type { ChartSpec, PayloadRun, ReportPayload, SeriesSpec } from "../payload.js";

type Point = [number, number];

interface Series {
  run: string;
  runIndex: number;
  label: string;
  dashed: boolean;
  markers: boolean;
  color: string;
  pts: Point[];
}

interface Axis {
  lo: number;
  hi: number;
  step: number;
  ticks: number[];
  format: (v: number) => string;
}

interface Unit {
  div: number;
  name: string;
}

const SVGNS = "http://www.w3.org/2000/svg";
const W = 560;
const H = 300;
const M = { l: 64, r: 18, t: 14, b: 46 };
const PW = W - M.l - M.r;
const PH = H - M.t - M.b;

function svgEl(name: string, attrs: Record<string, string | number>, parent?: Element): SVGElement {
  const node = document.createElementNS(SVGNS, name) as SVGElement;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  parent?.appendChild(node);
  return node;
}

function htmlEl(name: string, cls: string, parent?: Element, text?: string): HTMLElement {
  const node = document.createElement(name);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  parent?.appendChild(node);
  return node;
}

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** Smallest number of decimals that shows x (a tick step) exactly. */
function decimals(x: number): number {
  for (let d = 0; d < 10; d++) {
    const scaled = x * 10 ** d;
    if (Math.abs(scaled - Math.round(scaled)) < 1e-6 * Math.max(1, scaled)) return d;
  }
  return 10;
}

/** Axis from min to max on multiples of a 1-2-2.5-5 step, about `target` ticks. */
function axis(min: number, max: number, target: number, integer: boolean): Axis {
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  let step =
    (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 && !(integer && mag === 1) ? 2.5 : f <= 5 ? 5 : 10) * mag;
  if (integer) step = Math.max(1, Math.round(step));
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let i = 0; lo + i * step <= hi + step * 1e-9; i++) ticks.push(lo + i * step);
  return { lo, hi, step, ticks, format: formatter(ticks, step) };
}

/** Tick labels: plain decimals; k/M/G above 10^4; exponent notation below 10^-2. */
function formatter(ticks: number[], step: number): (v: number) => string {
  const maxAbs = ticks.reduce((m, t) => Math.max(m, Math.abs(t)), 0);
  const zero = (v: number) => Math.abs(v) < step * 1e-6;
  if (maxAbs > 0 && maxAbs < 1e-2) {
    const e = Math.floor(Math.log10(maxAbs));
    const d = Math.min(6, decimals(step / 10 ** e));
    return (v) => (zero(v) ? "0" : v.toExponential(d));
  }
  if (maxAbs >= 1e4) {
    const k = maxAbs >= 1e9 ? 3 : maxAbs >= 1e6 ? 2 : 1;
    const div = 1000 ** k;
    const d = Math.min(6, decimals(step / div));
    const suffix = ["", "k", "M", "G"][k];
    return (v) => (zero(v) ? "0" : (v / div).toFixed(d) + suffix);
  }
  const d = Math.min(6, decimals(step));
  return (v) => (zero(v) ? "0" : v.toFixed(d));
}

/** Bytes and seconds are shown in a unit chosen by the largest value. */
function unit(kind: string | undefined, maxAbs: number): Unit {
  if (kind === "bytes") {
    const names = ["B", "KiB", "MiB", "GiB", "TiB"];
    let u = 0;
    while (u < names.length - 1 && maxAbs >= 1024 ** (u + 1)) u++;
    return { div: 1024 ** u, name: names[u]! };
  }
  if (kind === "seconds") {
    if (maxAbs >= 2 * 3600) return { div: 3600, name: "h" };
    if (maxAbs >= 120) return { div: 60, name: "min" };
    return { div: 1, name: "s" };
  }
  return { div: 1, name: "" };
}

const field = (row: unknown, key: string): unknown => (row as Record<string, unknown>)[key];

/** Running count of the rows of `type`, as a staircase from 0 over the run's whole x range. */
function staircase(run: PayloadRun, x: string, type: string): Point[] {
  const xs = run.metrics.map((row) => field(row, x)).filter(isNum);
  if (xs.length === 0) return [];
  let n = 0;
  // reduce, not Math.min(...xs): long runs can exceed the engine's argument-count limit.
  const pts: Point[] = [[xs.reduce((a, b) => Math.min(a, b)), 0]];
  for (const row of run.metrics) {
    const at = field(row, x);
    if (row?.type !== type || !isNum(at)) continue;
    pts.push([at, n]);
    n++;
    pts.push([at, n]);
  }
  pts.push([xs.reduce((a, b) => Math.max(a, b)), n]);
  return pts;
}

function points(run: PayloadRun, chart: ChartSpec, spec: Expanded): Point[] {
  if (spec.count) return staircase(run, chart.x, spec.type);
  const pts: Point[] = [];
  for (const row of run.metrics) {
    if (!row || row.type !== spec.type || spec.y === undefined) continue;
    const x = field(row, chart.x);
    const value = field(row, spec.y);
    const y = spec.name === undefined ? value : value && field(value, spec.name);
    if (isNum(x) && isNum(y)) pts.push([x, y]);
  }
  return pts;
}

/** The names of a name → number field over a run's rows of `spec.type`, in first-seen order. */
function eachNames(run: PayloadRun, spec: SeriesSpec): string[] {
  const names = new Set<string>();
  for (const row of run.metrics) {
    const map = row?.type === spec.type ? (row as Record<string, unknown>)[spec.each!] : undefined;
    if (map && typeof map === "object") for (const name of Object.keys(map)) names.add(name);
  }
  return [...names];
}

/** A series spec, and for an `each` spec the name whose entry of the map is plotted. */
type Expanded = SeriesSpec & { name?: string };

/** An `each` spec as one series per name (names may hold dots: they are no field paths). */
function expand(run: PayloadRun, spec: SeriesSpec): Expanded[] {
  if (spec.each === undefined) return [spec];
  return eachNames(run, spec).map((name, i) => ({
    type: spec.type,
    y: spec.each,
    name,
    label: name,
    dashed: i % 2 === 1,
  }));
}

function seriesFor(payload: ReportPayload, chart: ChartSpec): Series[] {
  const out: Series[] = [];
  payload.runs.forEach((run, ri) => {
    for (const spec of chart.series.flatMap((s) => expand(run, s))) {
      const pts = points(run, chart, spec);
      if (pts.length === 0) continue;
      out.push({
        run: run.name,
        runIndex: ri,
        label: spec.label,
        dashed: Boolean(spec.dashed),
        markers: Boolean(spec.markers),
        color: payload.colors[ri % payload.colors.length]!,
        pts,
      });
    }
  });
  return out;
}

function legendKey(parent: Element, s: Series, withLabel: boolean): void {
  const key = htmlEl("span", "key", parent);
  const sw = svgEl("svg", { width: 26, height: 10, "aria-hidden": "true" }, key);
  if (!s.markers) {
    svgEl(
      "line",
      {
        x1: 1,
        y1: 5,
        x2: 25,
        y2: 5,
        stroke: s.color,
        "stroke-width": 2.5,
        "stroke-dasharray": s.dashed ? "5 3" : "none",
      },
      sw,
    );
  }
  if (s.dashed || s.markers) svgEl("circle", { cx: 13, cy: 5, r: 2.5, fill: s.color }, sw);
  htmlEl("span", "", key, withLabel ? `${s.run} (${s.label})` : s.run);
}

function draw(payload: ReportPayload, fig: Element, chart: ChartSpec): void {
  const series = seriesFor(payload, chart);
  const plot = fig.querySelector(".plot")!;
  const svg = svgEl(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": chart.title },
    plot,
  ) as SVGSVGElement;
  fig.setAttribute("data-series-count", String(series.length));
  if (series.length === 0) {
    const msg = svgEl("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, svg);
    msg.textContent = "no data logged";
    fig.setAttribute("data-rendered", "empty");
    return;
  }
  let xmin = Number.POSITIVE_INFINITY;
  let xmax = Number.NEGATIVE_INFINITY;
  let ymin = Number.POSITIVE_INFINITY;
  let ymax = Number.NEGATIVE_INFINITY;
  for (const s of series) {
    for (const [x, y] of s.pts) {
      xmin = Math.min(xmin, x);
      xmax = Math.max(xmax, x);
      ymin = Math.min(ymin, y);
      ymax = Math.max(ymax, y);
    }
  }
  if (chart.zero) {
    ymin = Math.min(ymin, 0);
    ymax = Math.max(ymax, 0);
  }
  const xu = unit(chart.xKind, Math.max(Math.abs(xmin), Math.abs(xmax)));
  const yu = unit(chart.yKind, Math.max(Math.abs(ymin), Math.abs(ymax)));
  const xa = axis(xmin / xu.div, xmax / xu.div, 6, chart.x === "step");
  const ya = axis(ymin / yu.div, ymax / yu.div, 5, false);
  const px = (x: number) => M.l + ((x / xu.div - xa.lo) / (xa.hi - xa.lo)) * PW;
  const py = (y: number) => M.t + PH - ((y / yu.div - ya.lo) / (ya.hi - ya.lo)) * PH;

  const grid = svgEl("g", { class: "grid" }, svg);
  for (const t of ya.ticks) {
    const y = M.t + PH - ((t - ya.lo) / (ya.hi - ya.lo)) * PH;
    svgEl("line", { x1: M.l, x2: M.l + PW, y1: y, y2: y }, grid);
    const label = svgEl("text", { x: M.l - 6, y: y + 4, "text-anchor": "end", class: "tick" }, svg);
    label.textContent = ya.format(t);
  }
  for (const t of xa.ticks) {
    const x = M.l + ((t - xa.lo) / (xa.hi - xa.lo)) * PW;
    svgEl("line", { x1: x, x2: x, y1: M.t, y2: M.t + PH }, grid);
    const label = svgEl(
      "text",
      { x, y: M.t + PH + 16, "text-anchor": "middle", class: "tick" },
      svg,
    );
    label.textContent = xa.format(t);
  }
  svgEl("rect", { x: M.l, y: M.t, width: PW, height: PH, class: "frame" }, svg);
  const xt = svgEl(
    "text",
    { x: M.l + PW / 2, y: H - 8, "text-anchor": "middle", class: "axis-title" },
    svg,
  );
  xt.textContent = chart.xLabel + (xu.name ? ` (${xu.name})` : "");
  const yt = svgEl(
    "text",
    {
      x: 0,
      y: 0,
      "text-anchor": "middle",
      class: "axis-title",
      transform: `translate(14 ${M.t + PH / 2}) rotate(-90)`,
    },
    svg,
  );
  yt.textContent = chart.yLabel + (yu.name ? ` (${yu.name})` : "");

  const clipId = `clip-${chart.id}`;
  const clip = svgEl("clipPath", { id: clipId }, svg);
  svgEl("rect", { x: M.l, y: M.t - 2, width: PW, height: PH + 4 }, clip);
  const layer = svgEl("g", { "clip-path": `url(#${clipId})` }, svg);
  for (const s of series) {
    const d = s.pts
      .map(([x, y], i) => `${i ? "L" : "M"}${px(x).toFixed(1)} ${py(y).toFixed(1)}`)
      .join("");
    const path = svgEl(
      "path",
      {
        d,
        fill: "none",
        // Event series are markers only: the path is kept (invisible) for its data attributes.
        stroke: s.markers ? "none" : s.color,
        "stroke-width": s.dashed ? 2 : 1.6,
        "stroke-linejoin": "round",
        "stroke-dasharray": s.dashed ? "6 4" : "none",
        class: "series",
        "data-run": s.run,
        "data-run-index": s.runIndex,
        "data-series": s.label,
        "data-points": s.pts.length,
      },
      layer,
    );
    const title = svgEl("title", {}, path);
    title.textContent = `${s.run} (${s.label})`;
    if (s.dashed || s.markers || s.pts.length < 2) {
      for (const [x, y] of s.pts) {
        svgEl(
          "circle",
          {
            cx: px(x).toFixed(1),
            cy: py(y).toFixed(1),
            r: s.markers ? 3.5 : 2.8,
            fill: s.color,
            class: "marker",
          },
          layer,
        );
      }
    }
  }

  const legend = fig.querySelector(".legend")!;
  const withLabel = new Set(series.map((s) => s.label)).size > 1;
  for (const s of series) legendKey(legend, s, withLabel);

  // Hover read-out: the point of each series nearest to the pointer's x.
  const tip = fig.querySelector(".tip") as HTMLElement;
  const guide = svgEl("line", { y1: M.t, y2: M.t + PH, class: "guide", visibility: "hidden" }, svg);
  svg.addEventListener("mousemove", (ev) => {
    const pt = svg.createSVGPoint();
    pt.x = ev.clientX;
    pt.y = ev.clientY;
    const loc = pt.matrixTransform(svg.getScreenCTM()!.inverse());
    if (loc.x < M.l || loc.x > M.l + PW) {
      tip.hidden = true;
      guide.setAttribute("visibility", "hidden");
      return;
    }
    const xv = (xa.lo + ((loc.x - M.l) / PW) * (xa.hi - xa.lo)) * xu.div;
    tip.textContent = "";
    const head = htmlEl(
      "div",
      "tip-head",
      tip,
      `${chart.xLabel} ≈ ${xa.format(xv / xu.div)}${xu.name ? ` ${xu.name}` : ""}`,
    );
    head.setAttribute("role", "presentation");
    for (const s of series) {
      let best = s.pts[0]!;
      for (const p of s.pts) if (Math.abs(p[0] - xv) < Math.abs(best[0] - xv)) best = p;
      const line = htmlEl("div", "tip-row", tip);
      const dot = htmlEl("span", "dot", line);
      dot.style.background = s.color;
      const y = Number((best[1] / yu.div).toPrecision(4));
      const x = Number((best[0] / xu.div).toPrecision(5));
      htmlEl("span", "", line, `${s.run} ${s.label}: ${y}${yu.name ? ` ${yu.name}` : ""} @ ${x}`);
    }
    guide.setAttribute("x1", String(loc.x));
    guide.setAttribute("x2", String(loc.x));
    guide.setAttribute("visibility", "visible");
    tip.hidden = false;
    const box = fig.getBoundingClientRect();
    let left = ev.clientX - box.left + 14;
    if (left + tip.offsetWidth > box.width) left = ev.clientX - box.left - tip.offsetWidth - 14;
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${ev.clientY - box.top + 10}px`;
  });
  svg.addEventListener("mouseleave", () => {
    tip.hidden = true;
    guide.setAttribute("visibility", "hidden");
  });
  fig.setAttribute("data-rendered", "true");
}

const payload = JSON.parse(
  document.getElementById("rankwise-data")!.textContent ?? "{}",
) as ReportPayload;
for (const chart of payload.charts) {
  const fig = document.querySelector(`figure[data-chart="${chart.id}"]`);
  if (fig) draw(payload, fig, chart);
}
document.body.setAttribute("data-report-ready", "true");
