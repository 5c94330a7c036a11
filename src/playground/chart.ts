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
