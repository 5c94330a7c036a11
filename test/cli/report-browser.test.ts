/**
 * The report of a real run, opened in headless Chromium: it renders without console or page
 * errors and the loss chart draws one point per train row of metrics.jsonl (and one per eval
 * row for the validation line). Chromium missing: skipped locally, a failure on CI.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CHROMIUM, launchChromium } from "../helpers/chromium.js";
import { cliOk, FAST, metrics, requireBuild, tempDir, trainRows } from "./run-cli.js";

const available = existsSync(CHROMIUM);

test.runIf(!available && Boolean(process.env.CI))("Chromium is installed on CI", () => {
  expect.fail(`${CHROMIUM} is missing: the report cannot be checked in a browser`);
});

describe.runIf(available)("a run's report.html in Chromium", () => {
  let browser: Browser;
  let run: string;
  const errors: string[] = [];

  beforeAll(async () => {
    requireBuild();
    run = tempDir();
    // Log every 2 steps, evaluate every 3: rows and points are not simply the step count.
    cliOk([
      "train",
      ...FAST,
      "--steps",
      "7",
      "--log-every",
      "2",
      "--eval-every",
      "3",
      "--seed",
      "8",
      "--out",
      run,
    ]);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
  });

  test("renders without errors; the loss chart has a point per metrics row", async () => {
    const page = await browser.newPage();
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") errors.push(`${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    await page.goto(pathToFileURL(join(run, "report.html")).href);
    await page.waitForSelector('body[data-report-ready="true"]', { timeout: 15_000 });

    const trainCount = trainRows(run).length;
    const evalCount = metrics(run).filter((r) => r.type === "eval").length;
    expect(trainCount).toBe(4); // steps 2, 4, 6 and the last, 7
    expect(evalCount).toBe(3); // steps 3, 6 and the end

    const fig = page.locator('figure[data-chart="loss-step"]');
    expect(await fig.getAttribute("data-rendered")).toBe("true");
    const train = fig.locator('path[data-run-index="0"][data-series="train"]');
    expect(await train.count()).toBe(1);
    expect(Number(await train.getAttribute("data-points"))).toBe(trainCount);
    const vertices = ((await train.getAttribute("d")) ?? "").match(/[ML]/g) ?? [];
    expect(vertices).toHaveLength(trainCount);
    const val = fig.locator('path[data-run-index="0"][data-series="validation"]');
    expect(Number(await val.getAttribute("data-points"))).toBe(evalCount);

    // The summary shows the run's last train loss.
    const last = trainRows(run).at(-1)!.loss;
    const cell = page.locator('table.summary td[data-key="finalTrainLoss"]').first();
    expect(Number(await cell.getAttribute("data-value"))).toBe(last);
    expect(errors).toEqual([]);
    await page.close();
  });
});
