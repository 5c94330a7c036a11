/**
 * One writer per folder: `<dir>/.lock`, created with O_EXCL (open "wx"), holding the owner's pid
 * and host as JSON. A second writer is refused with one line naming the owner. A lock whose
 * process is gone (same host, and `process.kill(pid, 0)` fails with ESRCH) is stale: it is taken
 * over with a warning. The lock is released on every way out of the process that runs JavaScript
 * — `release()`, a thrown error the caller turns into release(), `process.exit` (an "exit"
 * handler) — and only a kill -9 or a power cut leaves a stale one behind.
 *
 * Like git's index.lock, but with the pid inside so a stale lock can be told from a live one.
 * Locks held on another host are never taken over (their pid means nothing here).
 * Taking over is race-safe: the stale file is first renamed to a private name, and if what was
 * renamed turns out to be a live lock (another process took over first), it is linked back.
 */
import fs from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { UsageError } from "../engine/errors.js";

export const LOCK_FILE = ".lock";

export interface LockOwner {
  pid: number;
  host: string;
  /** ISO time the lock was taken. */
  since: string;
}

export interface Lock {
  readonly path: string;
  /** Remove the lock (idempotent; leaves alone a lock that is no longer ours). */
  release(): void;
}

/** Whether process `pid` on this host is alive (EPERM: alive, but not ours to signal). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(fs.readFileSync(path, "utf8")) as LockOwner;
    return Number.isInteger(owner.pid) && typeof owner.host === "string" ? owner : undefined;
  } catch {
    return undefined; // gone, or torn by a crash while it was being written
  }
}

const isLive = (owner: LockOwner | undefined) =>
  owner !== undefined && (owner.host !== hostname() || processAlive(owner.pid));

/** The live owner of `dir`'s lock, if another process holds one. */
export function lockOwner(dir: string): LockOwner | undefined {
  const owner = readOwner(join(dir, LOCK_FILE));
  return isLive(owner) && !(owner!.pid === process.pid && owner!.host === hostname())
    ? owner
    : undefined;
}

/**
 * Take `dir`'s lock (the folder must exist). `what` names the folder in messages; `warn`
 * receives the stale-lock warning.
 */
export function acquireLock(
  dir: string,
  what = dir,
  warn: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Lock {
  const path = join(dir, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = fs.openSync(path, "wx", 0o644);
      try {
        fs.writeFileSync(fd, `${JSON.stringify(me)}\n`);
      } finally {
        fs.closeSync(fd);
      }
      return held(path, me);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
        throw new UsageError(
          `cannot lock ${what}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message} on ${path}`,
        );
      }
    }
    const owner = readOwner(path);
    if (isLive(owner)) {
      throw new UsageError(
        `${what} is in use by process ${owner!.pid} on ${owner!.host} (since ${owner!.since}); wait for it to finish, or delete ${path} if that process is gone`,
      );
    }
    if (attempt >= 5) throw new UsageError(`cannot lock ${what}: ${path} keeps changing`);
    if (owner === undefined) {
      // Unreadable: a crash while it was being written, or its owner is just writing it.
      const age = Date.now() - (fs.statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? 0);
      if (age < 2000) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
        continue;
      }
    }
    takeOver(path, owner, what, warn);
  }
}

/** Move a stale lock out of the way (see the header for why by rename). */
function takeOver(
  path: string,
  stale: LockOwner | undefined,
  what: string,
  warn: (line: string) => void,
): void {
  const aside = `${path}.stale-${process.pid}`;
  try {
    fs.renameSync(path, aside);
  } catch {
    return; // someone else moved it first: try again
  }
  const moved = readOwner(aside);
  if (isLive(moved)) {
    // Not the stale lock we saw but a live one taken meanwhile: put it back.
    try {
      fs.linkSync(aside, path);
    } catch {}
  } else {
    warn(
      `warning: ${what} was locked by process ${stale?.pid ?? "?"} on ${stale?.host ?? "?"}, which is gone: taking the lock over`,
    );
  }
  fs.rmSync(aside, { force: true });
}

function held(path: string, me: LockOwner): Lock {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off("exit", release);
    const owner = readOwner(path);
    if (owner?.pid === me.pid && owner.host === me.host && owner.since === me.since) {
      fs.rmSync(path, { force: true });
    }
  };
  process.on("exit", release);
  return { path, release };
}
