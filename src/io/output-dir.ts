/**
 * Output folders, checked and created without hanging. Node's `mkdirSync(p, { recursive: true })`
 * loops forever on some paths (e.g. /proc/x: mkdir says ENOENT, the parent exists, it retries);
 * here we walk up to the first existing ancestor, check that it is a writable folder, and create
 * the missing levels one `mkdir` at a time, so every failure is one UsageError naming the path.
 */
import { accessSync, constants, mkdirSync, rmdirSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { UsageError } from "../engine/errors.js";

/** One line: the flag, the path as given, what is wrong and the system's error code. */
function refuse(flag: string, path: string, code: string | undefined, at: string): never {
  const where = at === resolve(path) ? "" : ` (${at})`;
  const why: Record<string, string> = {
    EEXIST: `${at} is a file, not a folder`,
    ENOTDIR: `${at} is a file, not a folder`,
    EACCES: `permission denied${where}`,
    EPERM: `not permitted${where}`,
    EROFS: `read-only file system${where}`,
    ENOENT: `cannot create a folder in ${dirname(at)}`,
    ENOSPC: `no space left on the device${where}`,
  };
  const reason = why[code ?? ""] ?? `cannot create a folder${where}`;
  throw new UsageError(`${flag} ${path}: ${reason} (${code ?? "error"})`);
}

const errorCode = (error: unknown) => (error as NodeJS.ErrnoException).code;

/** The path's missing levels, outermost first, and its first existing ancestor. */
function missingLevels(path: string, flag: string): { existing: string; missing: string[] } {
  const missing: string[] = [];
  let p = resolve(path);
  for (;;) {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (error) {
      const code = errorCode(error);
      const parent = dirname(p);
      // ENOTDIR: some ancestor is a file; keep walking up to name it.
      if ((code !== "ENOENT" && code !== "ENOTDIR") || parent === p) refuse(flag, path, code, p);
      missing.unshift(p);
      p = parent;
      continue;
    }
    if (!isDir) refuse(flag, path, missing.length === 0 ? "EEXIST" : "ENOTDIR", p);
    return { existing: p, missing };
  }
}

/**
 * Make sure `path` is a folder we can write, creating it (and missing parents) if needed.
 * Returns the folders it created, outermost first. `flag` names the option in messages.
 */
export function ensureOutputDir(path: string, flag = "--out"): string[] {
  if (path.trim() === "") throw new UsageError(`${flag} must name a folder, got "${path}"`);
  const { existing, missing } = missingLevels(path, flag);
  try {
    accessSync(existing, constants.W_OK | constants.X_OK);
  } catch (error) {
    refuse(flag, path, errorCode(error), existing);
  }
  const created: string[] = [];
  for (const dir of missing) {
    try {
      mkdirSync(dir);
    } catch (error) {
      const code = errorCode(error);
      if (code !== "EEXIST" || !statSync(dir).isDirectory()) {
        removeCreated(created);
        refuse(flag, path, code, dir);
      }
      continue; // created meanwhile by someone else: fine
    }
    created.push(dir);
  }
  return created;
}

/** Check that `path` could be used as an output folder, leaving nothing behind. */
export function checkOutputDir(path: string, flag = "--out"): void {
  removeCreated(ensureOutputDir(path, flag));
}

/** Remove folders `ensureOutputDir` created, innermost first, if they are still empty. */
export function removeCreated(created: string[]): void {
  for (const dir of [...created].reverse()) {
    try {
      rmdirSync(dir);
    } catch {
      return; // not empty (or gone): keep it and its parents
    }
  }
}
