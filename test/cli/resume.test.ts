/**
 * `rankwise train --resume DIR --steps M` continues the run exactly (issue 3): the losses after
 * the break equal an uninterrupted run's with the same seed (to 1e-6 relative; in fact bit for
 * bit), metrics.jsonl holds each step once, and the run folder has its report and checkpoint.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, test } from "vitest";
import { cliAsync, cliOk, FAST, relClose, requireBuild, tempDir, trainRows } from "./run-cli.js";

beforeAll(requireBuild);

const COMMON = [...FAST, "--log-every", "1", "--seed", "7"];
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const trainerStep = (dir: string) =>
  JSON.parse(readFileSync(join(dir, "checkpoint", "trainer.json"), "utf8")).step as number;

/** Run side by side; every run must succeed. */
async function all(...runs: string[][]) {
  for (const r of await Promise.all(runs.map((args) => cliAsync(args)))) {
    if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  }
}

test("6 steps + resume to 12 equals 12 uninterrupted steps", async () => {
  const full = tempDir();
  const split = tempDir();
  await all(
    ["train", ...COMMON, "--steps", "12", "--out", full],
    ["train", ...COMMON, "--steps", "6", "--out", split],
  );
  expect(trainRows(split).map((r) => r.step)).toEqual(range(1, 6));
  expect(trainerStep(split)).toBe(6);

  const r = cliOk(["train", "--resume", split, "--steps", "12", "--quiet"]);
  expect(r.stdout).toMatch(/after 12 steps/);

  const reference = trainRows(full);
  const resumed = trainRows(split);
  // Each step exactly once, in order, with numeric step and loss.
  expect(reference.map((row) => row.step)).toEqual(range(1, 12));
  expect(resumed.map((row) => row.step)).toEqual(range(1, 12));
  for (const row of [...reference, ...resumed]) {
    expect(typeof row.loss).toBe("number");
    expect(Number.isFinite(row.loss)).toBe(true);
  }
  for (let i = 0; i < 12; i++) {
    const what = `step ${i + 1}: ${resumed[i]!.loss} vs ${reference[i]!.loss}`;
    expect(relClose(resumed[i]!.loss, reference[i]!.loss, 1e-6), what).toBe(true);
    // Same parameters, optimizer state, batches and learning rate: the very same numbers.
    expect(resumed[i]!.loss, what).toBe(reference[i]!.loss);
    expect(resumed[i]!.lr).toBe(reference[i]!.lr);
  }
  // The losses do move (so equality above is not equality of constants).
  expect(new Set(resumed.map((row) => row.loss)).size).toBe(12);

  for (const file of [
    "report.html",
    "metrics.jsonl",
    "checkpoint/config.json",
    "checkpoint/model.safetensors",
    "checkpoint/optimizer.safetensors",
    "checkpoint/trainer.json",
  ]) {
    expect(existsSync(join(split, file)), file).toBe(true);
  }
  expect(trainerStep(split)).toBe(12);
  // The resumed run's model equals the uninterrupted one's, byte for byte.
  const weights = (dir: string) => readFileSync(join(dir, "checkpoint", "model.safetensors"));
  expect(weights(split).equals(weights(full))).toBe(true);
});

test("a decaying schedule keeps its horizon when resumed to a later step", async () => {
  // Cosine with warm-up over 1 step, started with --steps 4, then resumed to 6: the run's
  // schedule is the one it started with (horizon 4), so it equals an uninterrupted 6-step run
  // whose horizon is set to 4 in a config file. (Before the fix the resumed part stretched the
  // cosine to the new --steps: the learning rate jumped back up at the break.)
  const peak = 0.002;
  const common = [...COMMON, "--schedule", "cosine", "--warmup", "1", "--lr", String(peak)];
  const files = tempDir();
  const configFile = join(files, "horizon.json");
  writeFileSync(configFile, JSON.stringify({ decaySteps: 4 }));
  const split = tempDir();
  const full = tempDir();
  await all(
    ["train", ...common, "--steps", "4", "--out", split],
    ["train", ...common, "--config", configFile, "--steps", "6", "--out", full],
  );
  cliOk(["train", "--resume", split, "--steps", "6", "--quiet"]);

  // optax warmup_cosine_decay_schedule(0 → peak over W, cosine to end = 0.1·peak at 4),
  // evaluated at the optimizer's count (step − 1).
  const W = 1;
  const D = 4 - W;
  const closedForm = (count: number) => {
    if (count < W) return (peak * count) / W;
    const t = Math.min(count - W, D);
    return peak * (0.9 * 0.5 * (1 + Math.cos((Math.PI * t) / D)) + 0.1);
  };
  const resumed = trainRows(split);
  const reference = trainRows(full);
  expect(resumed.map((row) => row.step)).toEqual(range(1, 6));
  for (const row of resumed) {
    expect(Math.abs(row.lr - closedForm(row.step - 1))).toBeLessThan(1e-12);
  }
  for (let i = 0; i < 6; i++) {
    expect(relClose(resumed[i]!.loss, reference[i]!.loss, 1e-6), `step ${i + 1}`).toBe(true);
  }
});
