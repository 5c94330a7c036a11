/**
 * Stopping a run: Ctrl-C (SIGINT) checkpoints the last completed step and exits with 130; a
 * crash (SIGKILL) keeps the last periodic checkpoint. Either way `--resume` continues the run
 * exactly: its losses equal an uninterrupted run's to 1e-6 relative.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, test } from "vitest";
import { cliAsync, cliSpawn, FAST, relClose, requireBuild, tempDir, trainRows } from "./run-cli.js";

const COMMON = [...FAST, "--log-every", "1", "--seed", "11"];
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const trainerStep = (dir: string) =>
  JSON.parse(readFileSync(join(dir, "checkpoint", "trainer.json"), "utf8")).step as number;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Complete train rows so far (the line being written, if any, is not counted). */
function completedTrainRows(dir: string): number {
  const path = join(dir, "metrics.jsonl");
  if (!existsSync(path)) return 0;
  const lines = readFileSync(path, "utf8").split("\n").slice(0, -1);
  return lines.filter((line) => line.startsWith('{"type":"train"')).length;
}

/**
 * Start a long run, wait until metrics.jsonl has at least `rows` train rows, send `signal`;
 * resolve with the exit code, the rows seen when the signal was sent, and the output.
 */
async function stopAfter(dir: string, rows: number, signal: NodeJS.Signals, extra: string[] = []) {
  const child = cliSpawn(["train", ...COMMON, "--steps", "2000", "--out", dir, ...extra]);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.on("close", (code, sig) => done({ code, signal: sig })),
  );
  let finished = false;
  void exited.then(() => {
    finished = true;
  });
  const deadline = Date.now() + 90_000;
  for (;;) {
    const seen = completedTrainRows(dir);
    if (seen >= rows) {
      child.kill(signal);
      return { ...(await exited), seen, stdout, stderr };
    }
    if (finished) throw new Error(`the run ended before ${rows} rows:\n${stderr}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`no ${rows} rows after 90 s:\n${stderr}`);
    }
    await sleep(25);
  }
}

/** Every train row of `dir` matches the uninterrupted `reference` run, each step once. */
function expectSameRun(dir: string, reference: string, target: number) {
  const resumed = trainRows(dir);
  const expected = trainRows(reference);
  expect(resumed.map((r) => r.step)).toEqual(range(1, target));
  expect(expected.map((r) => r.step)).toEqual(range(1, target));
  for (let i = 0; i < target; i++) {
    const what = `step ${i + 1}: ${resumed[i]!.loss} vs ${expected[i]!.loss}`;
    expect(relClose(resumed[i]!.loss, expected[i]!.loss, 1e-6), what).toBe(true);
  }
  expect(trainerStep(dir)).toBe(target);
}

// Both runs are stopped side by side, then both are resumed to the same target and compared with
// one uninterrupted run of that target.
const sigint = { dir: "", step: 0, rows: [] as number[], r: undefined as any };
const sigkill = { dir: "", step: 0, lastRow: 0, report: false, r: undefined as any };
let reference = "";
let target = 0;

beforeAll(async () => {
  requireBuild();
  sigint.dir = tempDir();
  sigkill.dir = tempDir();
  [sigint.r, sigkill.r] = await Promise.all([
    // No periodic checkpoints: any checkpoint found afterwards was written on Ctrl-C.
    stopAfter(sigint.dir, 3, "SIGINT", ["--checkpoint-every", "0"]),
    stopAfter(sigkill.dir, 5, "SIGKILL", ["--checkpoint-every", "2"]),
  ]);
  // The report is rewritten at each checkpoint, so the crashed run has one.
  sigkill.report = existsSync(join(sigkill.dir, "report.html"));
  sigint.step = existsSync(join(sigint.dir, "checkpoint")) ? trainerStep(sigint.dir) : -1;
  sigint.rows = trainRows(sigint.dir).map((row) => row.step);
  // Read the crashed run's step through `inspect`, which first completes a save that the kill
  // cut between its two renames.
  const inspected = await cliAsync(["inspect", sigkill.dir, "--json"]);
  if (inspected.status !== 0) throw new Error(`inspect failed: ${inspected.stderr}`);
  sigkill.step = JSON.parse(inspected.stdout).step;
  sigkill.lastRow = trainRows(sigkill.dir).at(-1)!.step;

  target = Math.max(sigint.step, sigkill.step) + 3;
  reference = tempDir();
  const runs = await Promise.all([
    cliAsync(["train", ...COMMON, "--steps", String(target), "--out", reference]),
    cliAsync(["train", "--resume", sigint.dir, "--steps", String(target), "--quiet"]),
    cliAsync(["train", "--resume", sigkill.dir, "--steps", String(target), "--quiet"]),
  ]);
  for (const run of runs) if (run.status !== 0) throw new Error(run.stderr);
});

test("Ctrl-C checkpoints the last completed step and exits with 130", () => {
  const { r, step, rows } = sigint;
  expect(r.code, r.stderr).toBe(130);
  expect(r.stderr).toMatch(/interrupted: saving a checkpoint/);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(step).toBeGreaterThanOrEqual(r.seen);
  expect(step).toBe(rows.at(-1)); // the last completed step (rows are logged every step)
  expect(rows).toEqual(range(1, step));
  expect(r.stdout).toContain(`interrupted at step ${step}`);
  expect(r.stdout).toContain(`rankwise train --resume ${sigint.dir}`);
  expect(existsSync(join(sigint.dir, "report.html"))).toBe(true);
});

test("after Ctrl-C, --resume continues the run exactly", () => {
  expectSameRun(sigint.dir, reference, target);
});

test("a crash (SIGKILL) keeps the last periodic checkpoint", () => {
  expect(sigkill.r.signal).toBe("SIGKILL");
  // The run got past step 4 (two checkpoints were due) before it was killed.
  expect(sigkill.step % 2).toBe(0);
  expect(sigkill.step).toBeGreaterThanOrEqual(2);
  expect(sigkill.step).toBeLessThanOrEqual(sigkill.lastRow);
  expect(sigkill.report).toBe(true);
});

test("after a crash, --resume redoes the steps past the checkpoint, each logged once", () => {
  expectSameRun(sigkill.dir, reference, target);
});
