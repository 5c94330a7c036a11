/**
 * The bundled client script run against a minimal stand-in for the DOM (no browser needed): every
 * chart is drawn, each run's series has one vertex per data point, and one affine data→pixel map
 * per axis fits every vertex. The same checks as browser.test.ts minus layout and hovering, so they
 * also run where Chromium is not installed.
 */
import { describe, expect, test } from "vitest";
import { clientScript, REPORT_CHARTS, renderReport } from "../../src/report/index.js";
import { expectAffine, expectedPoints, vertices } from "./chart-points.js";
import { RUNS } from "./runs.js";

/** An element: attributes, children, text, and selection by class or data-chart. */
class FakeElement {
  readonly attributes = new Map<string, string>();
  readonly children: FakeElement[] = [];
  readonly style: Record<string, string> = {};
  textContent = "";
  className = "";
  hidden = false;
  constructor(readonly tag: string) {}
  setAttribute(name: string, value: string): void {
    this.attributes.set(name, String(value));
  }
  getAttribute(name: string): string | null {
    return this.attributes.get(name) ?? null;
  }
  appendChild(child: FakeElement): FakeElement {
    this.children.push(child);
    return child;
  }
  addEventListener(): void {}
  all(): FakeElement[] {
    return [this, ...this.children.flatMap((c) => c.all())];
  }
  querySelector(selector: string): FakeElement | null {
    const cls = selector.slice(1);
    return this.all().find((e) => e !== this && e.className.split(" ").includes(cls)) ?? null;
  }
}

function figure(id: string): FakeElement {
  const fig = new FakeElement("figure");
  fig.setAttribute("data-chart", id);
  for (const cls of ["plot", "legend", "tip"]) {
    const div = fig.appendChild(new FakeElement("div"));
    div.className = cls;
  }
  return fig;
}

describe("client script (fake DOM)", () => {
  const html = renderReport(RUNS, { title: "t" });
  const json = /<script type="application\/json" id="rankwise-data">([^<]*)<\/script>/.exec(
    html,
  )![1]!;
  const figures = new Map(REPORT_CHARTS.map((c) => [c.id, figure(c.id)]));
  const body = new FakeElement("body");
  const document = {
    body,
    createElement: (tag: string) => new FakeElement(tag),
    createElementNS: (_ns: string, tag: string) => new FakeElement(tag),
    getElementById: (id: string) => (id === "rankwise-data" ? { textContent: json } : null),
    querySelector: (selector: string) =>
      figures.get(/data-chart="([^"]+)"/.exec(selector)?.[1] ?? "") ?? null,
  };
  new Function("document", clientScript())(document);

  test("the page is marked ready and every chart is drawn", () => {
    expect(body.getAttribute("data-report-ready")).toBe("true");
    for (const [id, fig] of figures) expect(fig.getAttribute("data-rendered"), id).toBe("true");
  });

  test("each run's series has its data points, on one affine map per axis", () => {
    for (const chart of REPORT_CHARTS) {
      const paths = figures
        .get(chart.id)!
        .all()
        .filter((e) => e.tag === "path");
      const pairs: [number[], number[]][] = [];
      for (let run = 0; run < RUNS.length; run++) {
        for (const s of chart.series) {
          const expected = expectedPoints(run, chart.x, s);
          expect(expected.length, `${chart.id} ${s.label}`).toBeGreaterThan(0);
          const path = paths.filter(
            (p) =>
              p.getAttribute("data-run-index") === String(run) &&
              p.getAttribute("data-series") === s.label,
          );
          expect(path, `${chart.id} ${s.label} run ${run}`).toHaveLength(1);
          expect(path[0]!.getAttribute("data-run")).toBe(RUNS[run]!.name);
          const drawn = vertices(path[0]!.getAttribute("d")!);
          expect(drawn).toHaveLength(expected.length);
          for (const [k, p] of drawn.entries()) pairs.push([expected[k]!, p]);
        }
      }
      expectAffine(
        pairs.map(([d, p]) => [d[0]!, p[0]!]),
        chart.id,
      );
      expectAffine(
        pairs.map(([d, p]) => [d[1]!, p[1]!]),
        chart.id,
        true,
      );
    }
  });

  test("event series are markers only; the staircase ends at the number of events", () => {
    const grad = figures.get("grad-norm")!.all();
    const spikes = grad.filter(
      (e) => e.tag === "path" && e.getAttribute("data-series") === "spike",
    );
    for (const p of spikes) expect(p.getAttribute("stroke")).toBe("none");
    const markers = grad.filter((e) => e.tag === "circle" && e.getAttribute("class") === "marker");
    const spikeRows = RUNS.flatMap((r) => r.metrics.filter((m) => m.type === "spike"));
    expect(markers.length).toBeGreaterThanOrEqual(spikeRows.length);
  });
});
