import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import {
  clientScript,
  escapeHtml,
  type MetricRow,
  REPORT_CHARTS,
  renderReport,
  runSummary,
  scriptJson,
  summarizeRun,
  writeReport,
} from "../../src/report/index.js";
import { RUNS } from "./runs.js";

const count = (text: string, pattern: RegExp) => (text.match(pattern) ?? []).length;

function embedded(html: string): any {
  const m = /<script type="application\/json" id="rankwise-data">([^<]*)<\/script>/.exec(html);
  if (!m) throw new Error("no embedded data");
  return JSON.parse(m[1]!);
}

describe("renderReport", () => {
  const html = renderReport(RUNS, { title: "Compare <b>&</b>" });

  test("embeds every run's data unchanged", () => {
    const data = embedded(html);
    expect(data.runs.map((r: { name: string }) => r.name)).toEqual(RUNS.map((r) => r.name));
    for (const [i, run] of RUNS.entries()) {
      expect(data.runs[i].metrics).toEqual(run.metrics);
      expect(data.runs[i].config).toEqual(run.config);
    }
  });

  test("no text can open or close an element: only our two scripts exist", () => {
    // The second run's name contains "<script>", the samples contain "</script><b>".
    expect(count(html, /<script/gi)).toBe(2);
    expect(count(html, /<\/script/gi)).toBe(2);
    expect(count(html, /<b>/g)).toBe(0);
    expect(html).toContain("<title>Compare &lt;b&gt;&amp;&lt;/b&gt;</title>");
    expect(html).toContain("galore rank 8 &lt;script&gt;");
    expect(html).toContain(
      "<pre>Call me Ishmael &lt;/script&gt;&lt;b&gt;bold&lt;/b&gt; &amp; &quot;q&quot;</pre>",
    );
    expect(clientScript()).not.toContain("</");
  });

  test("script JSON escapes <, >, &, U+2028 and U+2029 and parses back", () => {
    const value = { text: "a</script>&<!--\u2028\u2029", n: [1, 2.5] };
    const json = scriptJson(value);
    expect(json).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(json)).toEqual(value);
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe(
      "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;",
    );
  });

  test("summary table lists each run with its final losses", () => {
    for (const [i, run] of RUNS.entries()) {
      const train = run.metrics.filter((r) => r.type === "train") as { loss: number }[];
      const evals = run.metrics.filter((r) => r.type === "eval") as { valLoss: number }[];
      const finalLoss = train[train.length - 1]!.loss;
      const finalVal = evals[evals.length - 1]!.valLoss;
      const row = new RegExp(`<tr data-run="[^"]*" data-run-index="${i}">.*?</tr>`).exec(html)?.[0];
      expect(row).toBeDefined();
      expect(row).toContain(
        `data-key="finalTrainLoss" data-value="${finalLoss}">${finalLoss.toFixed(4)}</td>`,
      );
      expect(row).toContain(
        `data-key="finalValLoss" data-value="${finalVal}">${finalVal.toFixed(4)}</td>`,
      );
    }
  });

  test("config table marks settings that differ between runs", () => {
    expect(html).toMatch(/<tr class="differs"><th scope="row">optimizer<\/th>/);
    expect(html).toMatch(/<tr><th scope="row">batchSize<\/th><td>16<\/td><td>16<\/td><\/tr>/);
  });

  test("the bundled client script is one self-contained function that cannot end its element", () => {
    const script = clientScript();
    expect(script).not.toContain("</");
    expect(script).not.toMatch(/\bimport\b|\brequire\(/);
    expect(() => new Function(script)).not.toThrow(); // parses as a script
    expect(html).toContain(`<script>${script}</script>`);
  });

  test("skipped steps and gradient spikes are counted and charted", () => {
    const count = (i: number, type: string) =>
      RUNS[i]!.metrics.filter((r) => r.type === type).length;
    for (const [i, run] of RUNS.entries()) {
      const s = runSummary(run);
      expect(s.skippedSteps).toBe(count(i, "skip"));
      expect(s.gradSpikes).toBe(count(i, "spike"));
    }
    expect(count(0, "skip")).toBeGreaterThan(0); // the fixture has some to count
    const stability = REPORT_CHARTS.find((c) => c.id === "stability")!;
    expect(stability.series.map((s) => [s.type, s.count])).toEqual([
      ["skip", true],
      ["spike", true],
    ]);
    const gradNorm = REPORT_CHARTS.find((c) => c.id === "grad-norm")!;
    expect(gradNorm.series.some((s) => s.type === "spike" && s.markers)).toBe(true);
  });

  test("run settings show the effective learning rate and every resolved option", () => {
    const start = {
      type: "start",
      step: 0,
      model: "tiny",
      parameters: 12345,
      optimizer: "adamw",
      learningRate: 0.001,
      learningRateSource: "the optimizer's default",
      optimizerOptions: { b1: 0.9, b2: 0.95, weightDecay: 0.01 },
      config: { optimizer: "adamw" },
    };
    const page = renderReport([{ name: "r", config: {}, metrics: [start, ...RUNS[0]!.metrics] }], {
      title: "t",
    });
    const table = /<table class="config" id="settings">.*?<\/table>/s.exec(page)?.[0] ?? "";
    expect(table).toContain('<th scope="row">learning rate (peak)</th><td>0.001</td>');
    expect(table).toContain("<td>the optimizer&#39;s default</td>");
    expect(table).toContain('<th scope="row">optimizer: b2</th><td>0.95</td>');
    expect(table).toContain('<th scope="row">parameters</th><td>12345</td>');
    expect(runSummary({ name: "r", config: {}, metrics: [start] }).learningRate).toBe(0.001);
    // Without a start row there is no such section.
    expect(html).not.toContain('id="settings"');
  });

  test("rejects an empty run list", () => {
    expect(() => renderReport([], { title: "x" })).toThrow(RangeError);
  });
});

describe("summary", () => {
  const metrics: MetricRow[] = [
    { type: "train", step: 1, loss: 3, tokensPerSec: 100, elapsed: 1, stateBytes: 64 },
    { type: "eval", step: 1, elapsed: 1.5, valLoss: 2.9, bitsPerChar: 4.1 },
    { type: "train", step: 2, loss: 2.5, tokensPerSec: 300, elapsed: 2, stateBytes: 96 },
    { type: "eval", step: 2, elapsed: 2.5, valLoss: 2.6, bitsPerChar: 3.7 },
    { type: "train", step: 3, loss: 2.7, tokensPerSec: 200, elapsed: 3, stateBytes: 96 },
    { type: "eval", step: 3, elapsed: 3.5, valLoss: 2.65, bitsPerChar: 3.8 },
    { type: "sample", step: 3, text: "hi" },
  ];

  test("final, best, median and largest values", () => {
    expect(summarizeRun(metrics)).toEqual({
      steps: 3,
      finalTrainLoss: 2.7,
      finalValLoss: 2.65,
      bestValLoss: 2.6,
      finalBitsPerChar: 3.8,
      tokensPerSec: 200,
      stepTime: 1, // (2 − 1) s over 1 step, (3 − 2) s over 1 step
      stateBytes: 96,
      wallTime: 3.5,
    });
    expect(summarizeRun([{ type: "train", step: 1, loss: Number.NaN }])).toEqual({ steps: 1 });
  });

  test("a run's own summary entries override and extend", () => {
    const s = runSummary({ name: "r", config: {}, metrics, summary: { wallTime: 9, note: "x" } });
    expect(s.wallTime).toBe(9);
    expect(s.note).toBe("x");
    const html = renderReport([{ name: "r", config: {}, metrics, summary: { note: "x<y" } }], {
      title: "t",
    });
    expect(html).toContain('<td data-key="note" data-value="x&lt;y">x&lt;y</td>');
  });
});

test("writeReport writes the page atomically", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rankwise-report-"));
  const path = join(dir, "report.html");
  await writeReport(path, RUNS, { title: "t" });
  expect(existsSync(path)).toBe(true);
  expect(readFileSync(path, "utf8")).toBe(renderReport(RUNS, { title: "t" }));
  expect(readdirSync(dir)).toEqual(["report.html"]);
});
