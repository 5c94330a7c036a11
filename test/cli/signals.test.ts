/**
 * Signals through the CLI (issue 8, item 3): SIGTERM and SIGHUP save a checkpoint where the run
 * stopped, as Ctrl-C does, and exit with 128 + the signal number (143, 129). A run stopped before
 * its first checkpoint — a second Ctrl-C while saving, or kill -9 — leaves a usable folder: `--resume`
 * starts it again from step 0, and plain `train --out` reuses it. Every continued run equals one
 * uninterrupted run bit for bit (train losses and final weights), and no lock is left behind.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, test } from "vitest";
import { cliAsync, cliSpawn, FAST, requireBuild, tempDir, trainRows } from "./run-cli.js";

const COMMON = [...FAST, "--log-every", "1", "--seed", "13", "--checkpoint-every", "0"];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ckStep = (dir: string) =>
  JSON.parse(readFileSync(join(dir, "checkpoint", "trainer.json"), "utf8")).step as number;
const weights = (dir: string) => readFileSync(join(dir, "checkpoint", "model.safetensors"));

/** Complete train rows so far. */
const rowsSoFar = (dir: string) => {
  const path = join(dir, "metrics.jsonl");
  if (!existsSync(path)) return 0;
  const lines = readFileSync(path, "utf8").split("\n").slice(0, -1);
  return lines.filter((line) => line.startsWith('{"type":"train"')).length;
};

interface Stopped {
  dir: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The folder right after the stop (before it is continued). */
  checkpointStep: number | undefined;
  rows: number[];
  lock: boolean;
}

/** Start a long run, wait for `rows` train rows, then send `signals` back to back. */
async function stopAfter(rows: number, signals: NodeJS.Signals[]): Promise<Stopped> {
  const dir = tempDir();
  const child = cliSpawn(["train", ...COMMON, "--steps", "5000", "--out", dir]);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((done) =>
    child.on("close", (code, sig) => done([code, sig])),
  );
  const deadline = Date.now() + 90_000;
  while (rowsSoFar(dir) < rows) {
    if (child.exitCode !== null) throw new Error(`the run ended early:\n${stderr}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`no ${rows} rows after 90 s:\n${stderr}`);
    }
    await sleep(20);
  }
  // A second signal right after the first would merge with it (the kernel keeps one pending
  // signal of a kind): send it once the run says it is saving.
  for (const [i, s] of signals.entries()) {
    if (i > 0)
      while (!stderr.includes("saving a checkpoint") && child.exitCode === null) await sleep(1);
    child.kill(s);
  }
  const [code, signal] = await exited;
  return {
    dir,
    code,
    signal,
    stdout,
    stderr,
    checkpointStep: existsSync(join(dir, "checkpoint")) ? ckStep(dir) : undefined,
    rows: trainRows(dir).map((row) => row.step),
    lock: existsSync(join(dir, ".lock")),
  };
}

let term: Stopped;
let hup: Stopped;
let twice: Stopped;
let killed: Stopped;
let reference = "";
let target = 0;
const continued: Record<string, Awaited<ReturnType<typeof cliAsync>>> = {};

beforeAll(async () => {
  requireBuild();
  [term, hup, twice, killed] = await Promise.all([
    stopAfter(3, ["SIGTERM"]),
    stopAfter(3, ["SIGHUP"]),
    stopAfter(2, ["SIGINT", "SIGINT"]),
    stopAfter(2, ["SIGKILL"]),
  ]);
  target = Math.max(...[term, hup].map((s) => s.checkpointStep ?? 0)) + 2;
  reference = tempDir();
  const steps = ["--steps", String(target)];
  const runs = await Promise.all([
    cliAsync(["train", ...COMMON, ...steps, "--out", reference]),
    cliAsync(["train", "--resume", term.dir, ...steps, "--quiet"]),
    cliAsync(["train", "--resume", hup.dir, ...steps, "--quiet"]),
    cliAsync(["train", "--resume", twice.dir, ...steps, "--quiet"]),
    // A folder with no checkpoint may simply be used again.
    cliAsync(["train", ...COMMON, ...steps, "--out", killed.dir]),
  ]);
  [continued.reference, continued.term, continued.hup, continued.twice, continued.killed] = runs;
});

test.each([
  ["SIGTERM", 143],
  ["SIGHUP", 129],
])("%s saves a checkpoint at the last completed step and exits with %s", (name, code) => {
  const s = name === "SIGTERM" ? term : hup;
  expect(s.code, s.stderr).toBe(code);
  expect(s.stderr).toContain(`${name}: saving a checkpoint`);
  expect(s.stderr).not.toMatch(/^\s+at /m);
  expect(s.checkpointStep).toBe(s.rows.at(-1));
  expect(s.checkpointStep).toBeGreaterThanOrEqual(3);
  expect(s.stdout).toContain(
    `interrupted at step ${s.checkpointStep}; resume with: rankwise train --resume ${s.dir}`,
  );
  expect(s.lock).toBe(false);
});

test("a second Ctrl-C while saving exits at once with 130 and leaves no lock", () => {
  expect(twice.code, twice.stderr).toBe(130);
  // Usually no checkpoint was written yet (the save was cut short); either way the folder
  // continues exactly (below), and the kill -9 case covers "no checkpoint" for certain.
  expect(twice.checkpointStep === undefined || twice.checkpointStep === twice.rows.at(-1)).toBe(
    true,
  );
  expect(twice.lock).toBe(false);
  expect(twice.rows.length).toBeGreaterThanOrEqual(2);
});

test("kill -9 before the first checkpoint leaves a stale lock and no checkpoint", () => {
  expect(killed.signal).toBe("SIGKILL");
  expect(killed.checkpointStep).toBeUndefined();
  expect(killed.lock).toBe(true);
});

test("every stopped folder continues to the uninterrupted run, bit for bit", () => {
  for (const [name, r] of Object.entries(continued))
    expect(r.status, `${name}: ${r.stderr}`).toBe(0);
  expect(continued.killed!.stderr).toMatch(/warning: .* which is gone: taking the lock over/);
  expect(continued.killed!.stderr).toMatch(/stopped before its first checkpoint: starting it over/);
  const expected = trainRows(reference).map((row) => [row.step, row.loss]);
  expect(expected).toHaveLength(target);
  for (const s of [term, hup, twice, killed]) {
    expect(
      trainRows(s.dir).map((row) => [row.step, row.loss]),
      s.dir,
    ).toEqual(expected);
    expect(weights(s.dir).equals(weights(reference)), s.dir).toBe(true);
    expect(existsSync(join(s.dir, ".lock"))).toBe(false);
  }
});
