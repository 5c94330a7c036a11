/**
 * Opens report.html in headless Chromium (Debian's chromium, installed by .ci/run) and checks
 * that every chart drew each run's data, the summary shows the runs' final losses, and the page
 * made no network requests and logged no errors.
 */
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { REPORT_CHARTS, renderReport } from "../../src/report/index.js";
import { CHROMIUM, launchChromium } from "../helpers/chromium.js";
import { expectAffine, expectedPoints, vertices } from "./chart-points.js";
import { RUNS } from "./runs.js";

describe.skipIf(!existsSync(CHROMIUM))("report in Chromium", () => {
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  const requests: string[] = [];

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "rankwise-browser-"));
    const file = join(dir, "report.html");
    writeFileSync(file, renderReport(RUNS, { title: "Compare" }));
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") errors.push(`${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    page.on("request", (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('body[data-report-ready="true"]', { timeout: 10_000 });
  });

  afterAll(async () => {
    await browser?.close();
  });

  test("every chart drew each run's series with one vertex per metric row", async () => {
    for (const chart of REPORT_CHARTS) {
      const pairs: [number[], number[]][] = [];
      const fig = page.locator(`figure[data-chart="${chart.id}"]`);
      expect(await fig.getAttribute("data-rendered"), chart.id).toBe("true");
      for (let run = 0; run < RUNS.length; run++) {
        for (const s of chart.series) {
          const expected = expectedPoints(run, chart.x, s);
          expect(expected.length, `${chart.id} ${s.label}`).toBeGreaterThan(0);
          const path = fig.locator(`path[data-run-index="${run}"][data-series="${s.label}"]`);
          expect(await path.count()).toBe(1);
          expect(await path.getAttribute("data-run")).toBe(RUNS[run]!.name);
          expect(Number(await path.getAttribute("data-points"))).toBe(expected.length);
          const drawn = vertices((await path.getAttribute("d"))!);
          expect(drawn).toHaveLength(expected.length);
          for (const [k, p] of drawn.entries()) pairs.push([expected[k]!, p]);
        }
      }
      // One affine data→pixel map per axis fits every vertex of the chart (to the rounding of the
      // path's 0.1 px coordinates): the lines are the data, not just the right number of points.
      expectAffine(
        pairs.map(([d, p]) => [d[0]!, p[0]!]),
        chart.id,
      );
      expectAffine(
        pairs.map(([d, p]) => [d[1]!, p[1]!]),
        chart.id,
        true,
      );
      // Axes have tick labels; the legend names every run.
      expect(await fig.locator("text.tick").count()).toBeGreaterThan(4);
      const legend = await fig.locator(".legend").textContent();
      for (const run of RUNS) expect(legend).toContain(run.name);
    }
  });

  test("runs are drawn in different colours", async () => {
    const colors = await page
      .locator('figure[data-chart="lr"] path.series')
      .evaluateAll((paths) => paths.map((p) => p.getAttribute("stroke")));
    expect(new Set(colors).size).toBe(RUNS.length);
  });

  test("summary table lists both runs with their final losses", async () => {
    const rows = page.locator("table.summary tbody tr");
    expect(await rows.count()).toBe(RUNS.length);
    for (const [i, run] of RUNS.entries()) {
      const row = rows.nth(i);
      expect(await row.locator("th").textContent()).toBe(run.name);
      const train = run.metrics.filter((r) => r.type === "train") as { loss: number }[];
      const evals = run.metrics.filter((r) => r.type === "eval") as { valLoss: number }[];
      const finalLoss = train[train.length - 1]!.loss;
      const finalVal = evals[evals.length - 1]!.valLoss;
      const cell = (key: string) => row.locator(`td[data-key="${key}"]`);
      expect(Number(await cell("finalTrainLoss").getAttribute("data-value"))).toBe(finalLoss);
      expect(await cell("finalTrainLoss").textContent()).toBe(finalLoss.toFixed(4));
      expect(Number(await cell("finalValLoss").getAttribute("data-value"))).toBe(finalVal);
      expect(await cell("finalValLoss").textContent()).toBe(finalVal.toFixed(4));
    }
  });

  test("sample text shows literally; hovering a chart shows a read-out", async () => {
    expect(await page.locator("#samples pre").first().textContent()).toBe(
      `Call me Ishmael </script><b>bold</b> & "q"`,
    );
    const box = (await page.locator('figure[data-chart="loss-step"] svg').first().boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
    const tip = page.locator('figure[data-chart="loss-step"] .tip');
    expect(await tip.isVisible()).toBe(true);
    const text = await tip.textContent();
    for (const run of RUNS) expect(text).toContain(run.name);
  });

  test("no errors logged and nothing fetched from the network", () => {
    expect(errors).toEqual([]);
    expect(requests.filter((u) => !u.startsWith("file:") && !u.startsWith("data:"))).toEqual([]);
  });
});
