/**
 * Atomic writes: the target holds the old content or the new, never a part; failures (real and
 * simulated) leave the old file intact and no temporary file behind.
 */
import fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, test, vi } from "vitest";
import { writeFileAtomic, writeFileAtomicSync } from "../../src/io/atomic.js";

let dir: string;
let target: string;
beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), "rankwise-atomic-"));
  target = join(dir, "state.bin");
  fs.writeFileSync(target, "old content");
});
afterEach(() => {
  vi.restoreAllMocks();
  fs.chmodSync(dir, 0o700);
  fs.rmSync(dir, { recursive: true, force: true });
});

const unchanged = () => {
  expect(fs.readFileSync(target, "utf8")).toBe("old content");
  expect(fs.readdirSync(dir)).toEqual(["state.bin"]);
};

test("replaces the file with bytes or text and leaves no temporary file", async () => {
  await writeFileAtomic(target, new Uint8Array([1, 2, 3]));
  expect([...fs.readFileSync(target)]).toEqual([1, 2, 3]);
  await writeFileAtomic(target, "ünï ✓");
  expect(fs.readFileSync(target, "utf8")).toBe("ünï ✓");
  writeFileAtomicSync(target, "sync");
  expect(fs.readFileSync(target, "utf8")).toBe("sync");
  await writeFileAtomic(join(dir, "new.txt"), "fresh");
  expect(fs.readdirSync(dir).sort()).toEqual(["new.txt", "state.bin"]);
});

test("keeps the permission bits of the file it replaces", async () => {
  fs.chmodSync(target, 0o640);
  await writeFileAtomic(target, "x");
  expect(fs.statSync(target).mode & 0o777).toBe(0o640);
});

test("a failing rename leaves the old file intact", async () => {
  vi.spyOn(fs.promises, "rename").mockRejectedValueOnce(new Error("EIO: simulated"));
  await expect(writeFileAtomic(target, "new content")).rejects.toThrow(
    `cannot write ${target}: EIO: simulated`,
  );
  unchanged();
});

test("a write that fails half-way (disk full) leaves the old file intact", async () => {
  const open = fs.promises.open.bind(fs.promises);
  vi.spyOn(fs.promises, "open").mockImplementationOnce(async (...args) => {
    const handle = await open(...(args as Parameters<typeof open>));
    handle.writeFile = async (data) => {
      await handle.write((data as Uint8Array).subarray(0, 4));
      throw new Error("ENOSPC: no space left on device (simulated)");
    };
    return handle;
  });
  await expect(writeFileAtomic(target, new Uint8Array(64))).rejects.toThrow(/ENOSPC/);
  unchanged();
});

test("the sync variant also leaves the old file intact on failure", () => {
  vi.spyOn(fs, "renameSync").mockImplementationOnce(() => {
    throw new Error("EIO: simulated");
  });
  expect(() => writeFileAtomicSync(target, "new")).toThrow(`cannot write ${target}: EIO`);
  unchanged();
});

test("real failures name the path: missing directory, target is a directory", async () => {
  const missing = join(dir, "no-such-dir", "x.bin");
  await expect(writeFileAtomic(missing, "x")).rejects.toThrow(`cannot write ${missing}: ENOENT`);
  expect(() => writeFileAtomicSync(missing, "x")).toThrow(`cannot write ${missing}`);
  fs.mkdirSync(join(dir, "sub"));
  await expect(writeFileAtomic(join(dir, "sub"), "x")).rejects.toThrow(/cannot write .*sub: /);
  expect(fs.readdirSync(dir).sort()).toEqual(["state.bin", "sub"]);
  expect(fs.readdirSync(join(dir, "sub"))).toEqual([]);
});

const isRoot = process.getuid?.() === 0;
test.skipIf(isRoot)("a directory that is not writable leaves the old file intact", async () => {
  fs.chmodSync(dir, 0o500);
  await expect(writeFileAtomic(target, "new content")).rejects.toThrow(/EACCES/);
  unchanged();
});
