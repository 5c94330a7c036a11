/**
 * The report's domain charts (src/report/html.ts DOMAIN_CHARTS): present only when a run logged
 * domainWeights / valLossByDomain; the bundled client script, run against a minimal stand-in for
 * the DOM, draws one line per domain with one vertex per row, on one affine data→pixel map per
 * axis (domain names with dots, as file paths have, are names, not field paths).
 */
import { describe, expect, test } from "vitest";
import { clientScript, renderReport } from "../../src/report/index.js";
import type { RunData } from "../../src/report/types.js";
import { expectAffine, vertices } from "../report/chart-points.js";

const NAMES = ["moby-dick", "data/b.txt"];
const RUN: RunData = {
  name: "odm",
  config: {},
  metrics: [1, 2, 3, 4].flatMap((step) => {
    const w = 0.5 + 0.1 * step * (step % 2 ? 1 : -1) * 0.5;
    return [
      {
        type: "train",
        step,
        loss: 4 - step / 10,
        domainWeights: { [NAMES[0]!]: w, [NAMES[1]!]: 1 - w },
      },
      ...(step % 2 === 0
        ? [
            {
              type: "eval",
              step,
              valLoss: 3,
              valLossByDomain: { [NAMES[0]!]: 3 + step / 7, [NAMES[1]!]: 3 - step / 9 },
            },
          ]
        : []),
    ];
  }),
};
const PLAIN: RunData = {
  name: "plain",
  config: {},
  metrics: [{ type: "train", step: 1, loss: 4 }],
};

class El {
  readonly attributes = new Map<string, string>();
  readonly children: El[] = [];
  readonly style: Record<string, string> = {};
  textContent = "";
  className = "";
  hidden = false;
  constructor(readonly tag: string) {}
  setAttribute(n: string, v: string) {
    this.attributes.set(n, String(v));
  }
  getAttribute(n: string) {
    return this.attributes.get(n) ?? null;
  }
  appendChild(c: El) {
    this.children.push(c);
    return c;
  }
  addEventListener() {}
  all(): El[] {
    return [this, ...this.children.flatMap((c) => c.all())];
  }
  querySelector(selector: string) {
    return (
      this.all().find((e) => e !== this && e.className.split(" ").includes(selector.slice(1))) ??
      null
    );
  }
}

/** Run the client on `html`; the figures by chart id. */
function draw(html: string): Map<string, El> {
  const json = /<script type="application\/json" id="rankwise-data">([^<]*)<\/script>/.exec(
    html,
  )![1]!;
  const ids = [...html.matchAll(/<figure class="chart" data-chart="([^"]+)"/g)].map((m) => m[1]!);
  const figures = new Map(
    ids.map((id) => {
      const fig = new El("figure");
      for (const cls of ["plot", "legend", "tip"]) fig.appendChild(new El("div")).className = cls;
      return [id, fig];
    }),
  );
  const body = new El("body");
  const document = {
    body,
    createElement: (t: string) => new El(t),
    createElementNS: (_: string, t: string) => new El(t),
    getElementById: (id: string) => (id === "rankwise-data" ? { textContent: json } : null),
    querySelector: (s: string) => figures.get(/data-chart="([^"]+)"/.exec(s)?.[1] ?? "") ?? null,
  };
  new Function("document", clientScript())(document);
  return figures;
}

describe("domain charts", () => {
  test("only in a report with a run that logged them", () => {
    expect(renderReport([PLAIN], { title: "t" })).not.toContain('data-chart="domain-weights"');
    const html = renderReport([PLAIN, RUN], { title: "t" });
    expect(html).toContain('data-chart="domain-weights"');
    expect(html).toContain('data-chart="domain-val-loss"');
  });

  test.each([
    ["domain-weights", "train", "domainWeights"],
    ["domain-val-loss", "eval", "valLossByDomain"],
  ])("%s: one line per domain, one vertex per row, affine", (id, type, key) => {
    const fig = draw(renderReport([RUN], { title: "t" })).get(id)!;
    expect(fig.getAttribute("data-rendered")).toBe("true");
    const paths = fig.all().filter((e) => e.tag === "path" && e.getAttribute("data-series"));
    expect(paths.map((p) => p.getAttribute("data-series"))).toEqual(NAMES);
    const rows = RUN.metrics.filter((r) => r.type === type) as any[];
    const xs: [number, number][] = [];
    const ys: [number, number][] = [];
    for (const [i, name] of NAMES.entries()) {
      const drawn = vertices(paths[i]!.getAttribute("d")!);
      expect(drawn).toHaveLength(rows.length);
      for (const [k, row] of rows.entries()) {
        xs.push([row.step, drawn[k]![0]!]);
        ys.push([row[key][name], drawn[k]![1]!]);
      }
    }
    expectAffine(xs, id);
    expectAffine(ys, id, true);
  });
});
