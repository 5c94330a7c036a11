/**
 * One writer per folder (src/io/lock.ts): the lock file holds our pid and host; a second
 * acquisition while the owner lives is refused with one line naming the owner; a lock whose
 * process is dead is taken over with a warning; a lock from another host is never taken over;
 * release removes only our own lock, and process exit releases it.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { UsageError } from "../../src/engine/errors.js";
import { acquireLock, LOCK_FILE, lockOwner, processAlive } from "../../src/io/lock.js";

const tempDir = () => mkdtempSync(join(tmpdir(), "rankwise-lock-"));
const owner = (pid: number, host = hostname()) =>
  `${JSON.stringify({ pid, host, since: "2026-01-01T00:00:00.000Z" })}\n`;

/** A pid that certainly belongs to no process: a child that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
    encoding: "utf8",
  });
  const pid = Number(child.stdout);
  expect(processAlive(pid)).toBe(false);
  return pid;
}

test("acquire writes our pid and host; release removes the file", () => {
  const dir = tempDir();
  const lock = acquireLock(dir);
  const held = JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8"));
  expect([held.pid, held.host]).toEqual([process.pid, hostname()]);
  expect(lockOwner(dir)).toBeUndefined(); // our own lock is no other owner
  lock.release();
  expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  lock.release(); // idempotent
});

test("a live owner's lock is refused with one line naming the process", () => {
  const dir = tempDir();
  writeFileSync(join(dir, LOCK_FILE), owner(process.ppid)); // the test runner's parent: alive
  expect(() => acquireLock(dir, "run r")).toThrow(UsageError);
  expect(() => acquireLock(dir, "run r")).toThrow(
    new RegExp(`^run r is in use by process ${process.ppid} on ${hostname()} `),
  );
  expect(lockOwner(dir)?.pid).toBe(process.ppid);
  expect(readFileSync(join(dir, LOCK_FILE), "utf8")).toBe(owner(process.ppid));
});

test("a dead owner's lock is taken over with a warning", () => {
  const dir = tempDir();
  const pid = deadPid();
  writeFileSync(join(dir, LOCK_FILE), owner(pid));
  expect(lockOwner(dir)).toBeUndefined();
  const warnings: string[] = [];
  const lock = acquireLock(dir, "run r", (w) => warnings.push(w));
  expect(warnings).toEqual([
    `warning: run r was locked by process ${pid} on ${hostname()}, which is gone: taking the lock over`,
  ]);
  expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")).pid).toBe(process.pid);
  lock.release();
});

test("a lock held on another host is never taken over", () => {
  const dir = tempDir();
  writeFileSync(join(dir, LOCK_FILE), owner(deadPid(), "elsewhere.example"));
  expect(() => acquireLock(dir)).toThrow(/in use by process \d+ on elsewhere\.example/);
});

test("release leaves a lock that is no longer ours", () => {
  const dir = tempDir();
  const lock = acquireLock(dir);
  writeFileSync(join(dir, LOCK_FILE), owner(process.ppid));
  lock.release();
  expect(readFileSync(join(dir, LOCK_FILE), "utf8")).toBe(owner(process.ppid));
});

test("process.exit releases the lock", () => {
  const dir = tempDir();
  const script = `import("${new URL("../../src/io/lock.ts", import.meta.url).pathname}").then((m) => { m.acquireLock(process.argv[1]); process.exit(3); })`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "-e", script, dir], {
    encoding: "utf8",
  });
  expect(r.status, r.stderr).toBe(3);
  expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
});
