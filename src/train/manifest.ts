/**
 * A checkpoint's manifest: `manifest.json`, written last, records the size and SHA-256 of every
 * file of the checkpoint, and its own checksum (SHA-256 of the canonical JSON of everything else
 * in it), so damage to any file — the manifest included — is found and named before anything is
 * loaded. Like git's object hashes or HF's safetensors index, but for the whole folder.
 *
 *   {"format": "rankwise-manifest-1", "step": 12,
 *    "files": {"config.json": {"size": 512, "sha256": "…"}, …}, "checksum": "…"}
 */
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../engine/errors.js";
import { writeFileAtomic } from "../io/atomic.js";

export const MANIFEST_FILE = "manifest.json";
const FORMAT = "rankwise-manifest-1";

export interface FileEntry {
  size: number;
  sha256: string;
}

export interface Manifest {
  format: string;
  step: number;
  files: Record<string, FileEntry>;
  checksum: string;
}

const sha256 = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex");
const checksumOf = (m: Omit<Manifest, "checksum">) =>
  sha256(JSON.stringify({ format: m.format, step: m.step, files: m.files }));

/** Record `files` (names inside `dir`, already written) and write the manifest last. */
export async function writeManifest(dir: string, step: number, files: string[]): Promise<void> {
  const entries: Record<string, FileEntry> = {};
  for (const name of files) {
    const bytes = readFileSync(join(dir, name));
    entries[name] = { size: bytes.length, sha256: sha256(bytes) };
  }
  const body = { format: FORMAT, step, files: entries };
  const manifest: Manifest = { ...body, checksum: checksumOf(body) };
  await writeFileAtomic(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** The step a folder's manifest records, if it has a readable one (for crash recovery). */
export function manifestStep(dir: string): number | undefined {
  try {
    const m = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), "utf8")) as Manifest;
    return m.format === FORMAT && checksumOf(m) === m.checksum ? m.step : undefined;
  } catch {
    return undefined;
  }
}

/** Check every file against the manifest; throw one line naming the first damaged file. */
export function verifyManifest(dir: string): Manifest {
  const path = join(dir, MANIFEST_FILE);
  const damaged = (file: string, why: string) =>
    new UsageError(
      `corrupt checkpoint: ${join(dir, file)} ${why}; restore the folder from a copy or start a new run`,
    );
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(path, "utf8")) as Manifest;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw damaged(
        MANIFEST_FILE,
        "is missing (the save was cut short, or an older version wrote it)",
      );
    }
    throw damaged(MANIFEST_FILE, "is not valid JSON");
  }
  if (
    typeof manifest !== "object" ||
    manifest === null ||
    manifest.format !== FORMAT ||
    typeof manifest.files !== "object" ||
    manifest.files === null ||
    checksumOf(manifest) !== manifest.checksum
  ) {
    throw damaged(MANIFEST_FILE, "does not match its own checksum");
  }
  for (const [name, entry] of Object.entries(manifest.files)) {
    if (name.includes("/") || name.includes("\\") || name.startsWith(".")) {
      throw damaged(MANIFEST_FILE, `lists a bad file name ${JSON.stringify(name)}`);
    }
    const file = join(dir, name);
    const size = statSync(file, { throwIfNoEntry: false })?.size;
    if (size === undefined) throw damaged(name, "is missing");
    if (size !== entry.size) {
      throw damaged(name, `has ${size} bytes, the manifest says ${entry.size}`);
    }
    if (sha256(readFileSync(file)) !== entry.sha256) {
      throw damaged(
        name,
        "does not match its SHA-256 in the manifest (its bytes changed after saving)",
      );
    }
  }
  return manifest;
}
