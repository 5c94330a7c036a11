/**
 * Fault injection (issue 8, Check): kill -9 the trainer at random points of 20 checkpoint
 * writes, resuming after each kill. The tiny model checkpoints every step; a watch on the run
 * folder sees each save begin (its `checkpoint.tmp-<pid>` folder appear) and the kill follows a
 * seeded random number of save events and delay, so kills land in every phase of a save (weights,
 * optimizer state, trainer state, manifest, the swap, the report) and between saves. Each time,
 * the folder must resume (a refusal would have to be one line, and is reported as a failure
 * here: with atomic saves none is expected); at the end the run must equal an uninterrupted one
 * bit for bit: the same final weights and optimizer state, each step logged once with the same
 * loss.
 */
import { existsSync, readdirSync, readFileSync, watch } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { cliAsync, cliSpawn, FAST, requireBuild, tempDir, trainRows } from "./run-cli.js";

const COMMON = [...FAST, "--log-every", "1", "--seed", "17", "--eval-every", "0"];
const KILLS = 20;

/** mulberry32: a small seeded generator, so the kill schedule is the same on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Outcome {
  killed: boolean;
  code: number | null;
  stderr: string;
}

/** Run `args`; kill -9 it `delay` ms after the `events`-th save event in `dir`. */
function killDuringSave(args: string[], dir: string, events: number, delay: number) {
  return new Promise<Outcome>((done) => {
    const child = cliSpawn(args);
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    let seen = 0;
    const watcher = watch(dir, (_event, name) => {
      if (!String(name).startsWith("checkpoint.tmp-") || ++seen !== events) return;
      setTimeout(() => child.kill("SIGKILL"), delay);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (code, signal) => {
      watcher.close();
      clearTimeout(timer);
      done({ killed: signal === "SIGKILL", code, stderr });
    });
  });
}

test(`kill -9 during ${KILLS} checkpoint writes: every resume continues the run exactly`, async () => {
  requireBuild();
  const dir = tempDir();
  const next = random(20261202);
  const refusals: string[] = [];
  let midSave = 0; // kills that left a save unfinished (a checkpoint.tmp/.old folder)
  for (let i = 0; i < KILLS; i++) {
    const args =
      i === 0
        ? ["train", ...COMMON, "--checkpoint-every", "1", "--steps", "100000", "--out", dir]
        : ["train", "--resume", dir, "--checkpoint-every", "1", "--steps", "100000", "--quiet"];
    const events = 1 + Math.floor(next() * 6);
    const delay = Math.floor(next() * 30);
    const r = await killDuringSave(args, dir, events, delay);
    if (!r.killed) {
      // It stopped by itself: only a one-line refusal would be acceptable, and none is expected.
      refusals.push(`kill ${i + 1}: exit ${r.code}: ${r.stderr.trim()}`);
      break;
    }
    if (readdirSync(dir).some((name) => /^checkpoint\.(tmp|old)-/.test(name))) midSave++;
  }
  expect(refusals).toEqual([]);
  expect(midSave).toBeGreaterThan(0); // the schedule did hit saves in progress

  const target = Math.max(0, ...trainRows(dir).map((row) => row.step)) + 3;
  const reference = tempDir();
  const [resumed, uninterrupted] = await Promise.all([
    cliAsync(["train", "--resume", dir, "--steps", String(target), "--quiet"]),
    cliAsync(["train", ...COMMON, "--steps", String(target), "--out", reference]),
  ]);
  expect(resumed.status, resumed.stderr).toBe(0);
  expect(uninterrupted.status, uninterrupted.stderr).toBe(0);
  const file = (d: string, name: string) => readFileSync(join(d, "checkpoint", name));
  for (const name of ["model.safetensors", "optimizer.safetensors"]) {
    expect(file(dir, name).equals(file(reference, name)), name).toBe(true);
  }
  const losses = (d: string) => trainRows(d).map((row) => [row.step, row.loss]);
  expect(losses(dir)).toEqual(losses(reference));
  expect(losses(dir)).toHaveLength(target);
  expect(existsSync(join(dir, ".lock"))).toBe(false);
  // Nothing an interrupted save or write left behind survives the resume.
  expect(readdirSync(dir).sort()).toEqual(["checkpoint", "metrics.jsonl", "report.html"]);
}, 240_000);
