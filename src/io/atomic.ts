/**
 * Atomic file writes. The data goes to a temporary file next to the target
 * (`<path>.tmp-<pid>-<random>`, same directory so the same file system), is flushed to disk
 * (fsync), then renamed over the target. rename() replaces a file atomically on POSIX file
 * systems, so a reader (or a run resumed after a crash) sees the old file or the new one, never a
 * half-written one. Any failure removes the temporary file and leaves the old file as it was.
 * An existing target's permission bits are kept.
 */
import { randomBytes } from "node:crypto";
// The module object (not a namespace import), so tests can simulate failures with vi.spyOn.
import fs from "node:fs";
import { dirname } from "node:path";

const fsp = fs.promises;

/** The temporary name used while `path` is being written. */
export function temporaryPathFor(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
}

const reason = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Write `data` (bytes, or a string as UTF-8) to `path` atomically. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = temporaryPathFor(path);
  let handle: fs.promises.FileHandle | undefined;
  try {
    const mode = await fsp.stat(path).then(
      (s) => s.mode & 0o7777,
      () => 0o666,
    );
    handle = await fsp.open(tmp, "wx", mode);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fsp.rename(tmp, path);
  } catch (err) {
    await handle?.close().catch(() => {});
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw new Error(`cannot write ${path}: ${reason(err)}`, { cause: err });
  }
  // Make the rename itself durable. Best effort: some platforms cannot open or sync directories.
  await fsp
    .open(dirname(path), "r")
    .then((dir) => dir.sync().finally(() => dir.close()))
    .catch(() => {});
}

/** Synchronous twin of {@link writeFileAtomic} (for exit handlers and simple scripts). */
export function writeFileAtomicSync(path: string, data: Uint8Array | string): void {
  const tmp = temporaryPathFor(path);
  let fd: number | undefined;
  try {
    let mode = 0o666;
    try {
      mode = fs.statSync(path).mode & 0o7777;
    } catch {}
    fd = fs.openSync(tmp, "wx", mode);
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {}
    }
    fs.rmSync(tmp, { force: true });
    throw new Error(`cannot write ${path}: ${reason(err)}`, { cause: err });
  }
  try {
    const dir = fs.openSync(dirname(path), "r");
    try {
      fs.fsyncSync(dir);
    } finally {
      fs.closeSync(dir);
    }
  } catch {}
}
