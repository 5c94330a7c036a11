/**
 * One writer per run folder through the CLI (issue 8, item 4). While a run writes a folder, a
 * second `train --out` or `train --resume` on it is refused with one line naming the owner's pid
 * and changes nothing; once the owner is gone the folder is usable again and the lock is gone.
 * Two runs started at once on one new folder: one trains, the other is refused.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, test } from "vitest";
import {
  type CliResult,
  cliAsync,
  cliSpawn,
  FAST,
  requireBuild,
  snapshot,
  tempDir,
  trainRows,
} from "./run-cli.js";

const COMMON = [...FAST, "--log-every", "1", "--seed", "21"];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function expectRefused(r: CliResult, pattern: RegExp) {
  expect(r.status, r.stderr).toBe(2);
  expect(r.stderr.trimEnd().split("\n"), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
}

beforeAll(requireBuild);

test("a folder in use refuses a second writer; after the owner stops it is free again", async () => {
  const dir = tempDir();
  const owner = cliSpawn([
    "train",
    ...COMMON,
    "--steps",
    "5000",
    "--checkpoint-every",
    "2",
    "--out",
    dir,
  ]);
  let stderr = "";
  owner.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((done) => owner.on("close", (code) => done(code)));
  const deadline = Date.now() + 90_000;
  while (!existsSync(join(dir, "checkpoint"))) {
    if (owner.exitCode !== null || Date.now() > deadline) {
      owner.kill("SIGKILL");
      throw new Error(`no checkpoint: ${stderr}`);
    }
    await sleep(20);
  }
  const held = JSON.parse(readFileSync(join(dir, ".lock"), "utf8"));
  expect(held.pid).toBe(owner.pid);
  const inUse = new RegExp(`^rankwise: ${dir} is in use by process ${owner.pid} on `);
  const [resumed, fresh] = await Promise.all([
    cliAsync(["train", "--resume", dir, "--steps", "9000", "--quiet"]),
    cliAsync(["train", ...COMMON, "--steps", "5", "--out", dir]),
  ]);
  expect(owner.exitCode).toBeNull(); // the owner was running all along
  expectRefused(resumed, inUse);
  expectRefused(fresh, inUse);
  owner.kill("SIGINT");
  expect(await exited).toBe(130);
  expect(existsSync(join(dir, ".lock"))).toBe(false);
  const step = trainRows(dir).at(-1)!.step;
  const after = await cliAsync(["train", "--resume", dir, "--steps", String(step + 2), "--quiet"]);
  expect(after.status, after.stderr).toBe(0);
  expect(after.stderr).toBe(""); // no stale lock to take over
  expect(trainRows(dir).at(-1)!.step).toBe(step + 2);
});

test("two runs started at once on a new folder: one trains, the other is refused", async () => {
  const dir = join(tempDir(), "run");
  const runs = await Promise.all(
    [0, 1].map(() => cliAsync(["train", ...COMMON, "--steps", "20", "--out", dir])),
  );
  const ok = runs.filter((r) => r.status === 0);
  const refused = runs.filter((r) => r.status !== 0);
  expect(ok).toHaveLength(1);
  expect(refused).toHaveLength(1);
  // Refused while the other ran, or — if it came late — because the folder now holds a run.
  expectRefused(refused[0]!, /is in use by process \d+|already holds a run/);
  expect(trainRows(dir).map((row) => row.step)).toEqual(
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  expect([...snapshot(dir).keys()].filter((f) => f.includes("lock"))).toEqual([]);
});
