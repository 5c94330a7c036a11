/**
 * A live line chart as inline SVG: a polyline scaled to the values seen so far, with the last
 * value and the range as text. No library: the page must load nothing from other hosts.
 */
const NS = "http://www.w3.org/2000/svg";
const W = 320;
const H = 120;

export class LineChart {
  readonly values: number[] = [];
  private readonly line: SVGPolylineElement;
  private readonly label: SVGTextElement;

  constructor(
    readonly svg: SVGSVGElement,
    readonly title: string,
  ) {
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.replaceChildren();
    this.line = document.createElementNS(NS, "polyline");
    this.line.setAttribute("fill", "none");
    this.line.setAttribute("stroke", "currentColor");
    this.line.setAttribute("stroke-width", "1.5");
    this.label = document.createElementNS(NS, "text");
    this.label.setAttribute("x", "4");
    this.label.setAttribute("y", "12");
    this.label.setAttribute("font-size", "10");
    this.label.textContent = title;
    svg.append(this.line, this.label);
  }

  push(value: number): void {
    if (!Number.isFinite(value)) return;
    this.values.push(value);
    this.draw();
  }

  clear(): void {
    this.values.length = 0;
    this.draw();
  }

  private draw(): void {
    const v = this.values;
    const lo = Math.min(...v);
    const hi = Math.max(...v);
    const span = hi - lo || 1;
    const dx = v.length > 1 ? (W - 8) / (v.length - 1) : 0;
    // The chart holds at most a few thousand points: a plain map is fine here.
    const points = v.map(
      (y, i) => `${(4 + i * dx).toFixed(1)},${(H - 4 - ((y - lo) / span) * (H - 24)).toFixed(1)}`,
    );
    this.line.setAttribute("points", points.join(" "));
    this.svg.dataset.points = String(v.length);
    const last = v.length > 0 ? v[v.length - 1] : Number.NaN;
    this.label.textContent =
      v.length === 0 ? this.title : `${this.title}: ${fmt(last)} (min ${fmt(lo)}, max ${fmt(hi)})`;
  }
}

const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3));

const COLORS = ["#2458a6", "#c0392b", "#27884a", "#8e44ad", "#d68910", "#16a2a5"];

/** Several named series on one scale (the optimizer race), with a legend of last values. */
export class RaceChart {
  private readonly series = new Map<string, { values: number[]; line: SVGPolylineElement }>();
  private readonly legend: SVGTextElement;

  constructor(
    readonly svg: SVGSVGElement,
    names: string[],
  ) {
    svg.setAttribute("viewBox", `0 0 ${W * 2} ${H * 1.5}`);
    svg.replaceChildren();
    this.legend = document.createElementNS(NS, "text");
    this.legend.setAttribute("x", "4");
    this.legend.setAttribute("y", "12");
    this.legend.setAttribute("font-size", "10");
    svg.append(this.legend);
    names.forEach((name, i) => {
      const line = document.createElementNS(NS, "polyline");
      line.setAttribute("fill", "none");
      line.setAttribute("stroke", COLORS[i % COLORS.length]);
      line.setAttribute("stroke-width", "1.5");
      line.dataset.name = name;
      svg.append(line);
      this.series.set(name, { values: [], line });
    });
  }

  push(name: string, value: number): void {
    if (!Number.isFinite(value)) return;
    this.series.get(name)?.values.push(value);
    this.draw();
  }

  /** Points drawn per series. */
  counts(): Record<string, number> {
    return Object.fromEntries([...this.series].map(([k, s]) => [k, s.values.length]));
  }

  private draw(): void {
    const all = [...this.series.values()].flatMap((s) => s.values);
    const lo = Math.min(...all);
    const span = Math.max(...all) - lo || 1;
    const n = Math.max(...[...this.series.values()].map((s) => s.values.length));
    const width = W * 2;
    const height = H * 1.5;
    const dx = n > 1 ? (width - 8) / (n - 1) : 0;
    const legend: SVGTSpanElement[] = [];
    for (const [name, s] of this.series) {
      const points = s.values.map(
        (y, i) =>
          `${(4 + i * dx).toFixed(1)},${(height - 4 - ((y - lo) / span) * (height - 24)).toFixed(1)}`,
      );
      s.line.setAttribute("points", points.join(" "));
      if (s.values.length > 0) {
        const span = document.createElementNS(NS, "tspan");
        span.setAttribute("fill", s.line.getAttribute("stroke") ?? "black");
        span.textContent = `${name} ${fmt(s.values[s.values.length - 1])}  `;
        legend.push(span);
      }
    }
    this.svg.dataset.points = JSON.stringify(this.counts());
    this.legend.replaceChildren("loss: ", ...legend);
  }
}
