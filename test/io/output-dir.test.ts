/**
 * Output folders (src/io/output-dir.ts): missing levels are created one at a time and reported;
 * unusable paths are one UsageError naming the path and the system's error code, at once (Node's
 * recursive mkdir loops forever on /proc/x).
 */
import { existsSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { UsageError } from "../../src/engine/errors.js";
import { checkOutputDir, ensureOutputDir, removeCreated } from "../../src/io/output-dir.js";

const base = () => mkdtempSync(join(tmpdir(), "rankwise-out-"));

test("creates the missing levels, outermost first, and reports them", () => {
  const root = base();
  const path = join(root, "a", "b", "c");
  expect(ensureOutputDir(path)).toEqual([join(root, "a"), join(root, "a", "b"), path]);
  expect(statSync(path).isDirectory()).toBe(true);
  expect(ensureOutputDir(path)).toEqual([]); // already there: nothing created
});

test("removeCreated takes back empty folders only; checkOutputDir leaves nothing", () => {
  const root = base();
  const created = ensureOutputDir(join(root, "x", "y"));
  writeFileSync(join(root, "x", "keep.txt"), "");
  removeCreated(created);
  expect(existsSync(join(root, "x", "y"))).toBe(false);
  expect(existsSync(join(root, "x"))).toBe(true); // not empty: kept
  checkOutputDir(join(root, "p", "q"), "--out");
  expect(existsSync(join(root, "p"))).toBe(false);
});

test("an empty path is refused (it would mean the current folder)", () => {
  expect(() => ensureOutputDir(" ")).toThrow(new UsageError('--out must name a folder, got " "'));
});

test("a file in the way, at the path or above it", () => {
  const root = base();
  const file = join(root, "f");
  writeFileSync(file, "x");
  expect(() => ensureOutputDir(file)).toThrow(
    new UsageError(`--out ${file}: ${file} is a file, not a folder (EEXIST)`),
  );
  expect(() => ensureOutputDir(join(file, "a", "b"), "--report")).toThrow(
    new UsageError(`--report ${join(file, "a", "b")}: ${file} is a file, not a folder (ENOTDIR)`),
  );
});

test.skipIf(!existsSync("/proc/self"))("a folder /proc cannot hold fails at once", () => {
  const started = performance.now();
  expect(() => ensureOutputDir("/proc/x/y")).toThrow(
    new UsageError("--out /proc/x/y: cannot create a folder in /proc (ENOENT)"),
  );
  expect(performance.now() - started).toBeLessThan(1000);
});

test.skipIf(process.getuid?.() === 0)("a folder without write permission", () => {
  const root = base();
  const locked = join(root, "locked");
  mkdirSync(locked, { mode: 0o500 });
  expect(() => ensureOutputDir(join(locked, "run"))).toThrow(
    new UsageError(`--out ${join(locked, "run")}: permission denied (${locked}) (EACCES)`),
  );
});
