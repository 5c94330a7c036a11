/**
 * Hugging Face Hub downloads into the standard HF cache, so Python's `huggingface_hub` and
 * Rankwise share one cache:
 *
 *   <cache>/models--<owner>--<name>/blobs/<etag>              file contents (etag: the LFS
 *                                                             SHA-256, else the git blob id)
 *   <cache>/models--<owner>--<name>/snapshots/<commit>/<file> relative symlinks to the blobs
 *   <cache>/models--<owner>--<name>/refs/<revision>           the commit a branch or tag names
 *
 * <cache> is $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub (as huggingface_hub);
 * the Hub address is $HF_ENDPOINT, else https://huggingface.co; $HF_TOKEN is sent if set.
 *
 * Only what a model folder needs is fetched: config.json, model.safetensors (or the index and
 * the shards it names), tokenizer.json and tokenizer_config.json. Metadata, listings and file
 * contents go through `@huggingface/hub` (modelInfo, listFiles, downloadFile). A file downloads
 * into `blobs/<etag>.incomplete`; a later run continues it with a Range request (the blob's
 * slice) instead of starting over, and checks size and hash before the rename to `blobs/<etag>`.
 * One process downloads into a repository's folder at a time (its `.lock`, io/lock.ts); a second
 * is refused with one line rather than appending to the same file.
 *
 * Offline: with $HF_HUB_OFFLINE (or `offline`) only the cache is read; when the Hub cannot be
 * reached, a complete cached snapshot of the same revision is used. Every failure is one
 * UsageError line (missing repository or revision, no network, no safetensors weights).
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, open, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { UsageError } from "../engine/errors.js";
import { acquireLock } from "./lock.js";

/** A Hub model id with the revision to fetch. */
export interface HubId {
  /** owner/name */
  repo: string;
  /** Branch, tag or commit (default "main"). */
  revision: string;
}

/** What a Hub id looks like: owner/name, optionally @revision. */
export const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*(@[\w./-]+)?$/;

/** Split `owner/name[@revision]`. */
export function parseHubId(spec: string): HubId {
  if (!HUB_ID.test(spec)) {
    throw new UsageError(`"${spec}" is not a Hub id: expected owner/name or owner/name@revision`);
  }
  const at = spec.indexOf("@");
  return at < 0
    ? { repo: spec, revision: "main" }
    : { repo: spec.slice(0, at), revision: spec.slice(at + 1) };
}

/** Progress of one file's download. */
export interface DownloadProgress {
  repo: string;
  file: string;
  /** Bytes on disk so far (a resumed file starts at what it kept). */
  bytes: number;
  total: number;
  /** Bytes kept from an earlier interrupted download. */
  resumedFrom: number;
}

/** Options of {@link downloadModel}. */
export interface DownloadOptions {
  /** Cache folder (default: $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Hub address (default: $HF_ENDPOINT or https://huggingface.co). */
  endpoint?: string;
  /** Read the cache only (default: $HF_HUB_OFFLINE). */
  offline?: boolean;
  /** Called as bytes arrive (the command line draws it on stderr). */
  onProgress?: (progress: DownloadProgress) => void;
}

const COMMIT = /^[0-9a-f]{40}$/;
const SMALL_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json"];
const WEIGHTS = "model.safetensors";
const INDEX = "model.safetensors.index.json";

const truthy = (v: string | undefined) =>
  v !== undefined && ["1", "true", "yes", "on"].includes(v.trim().toLowerCase());

/** The HF hub cache folder ($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub). */
export async function hubCacheDir(): Promise<string> {
  const { getHFHubCachePath } = await import("@huggingface/hub");
  return getHFHubCachePath();
}

/** The cache folder of one model repository. */
export const repoFolder = (cacheDir: string, repo: string) =>
  join(cacheDir, `models--${repo.split("/").join("--")}`);

/** The files of a complete snapshot folder (config + weights), or undefined. */
function completeSnapshot(dir: string): string | undefined {
  if (!existsSync(join(dir, "config.json"))) return;
  if (existsSync(join(dir, WEIGHTS))) return dir;
  const index = join(dir, INDEX);
  if (!existsSync(index)) return;
  try {
    const map = JSON.parse(readFileSync(index, "utf8")).weight_map as Record<string, string>;
    return Object.values(map).every((f) => existsSync(join(dir, f))) ? dir : undefined;
  } catch {
    return;
  }
}

/** The cached snapshot of `id` (revision resolved through refs/), if complete. */
function cachedSnapshot(storage: string, revision: string): string | undefined {
  let commit = revision;
  if (!COMMIT.test(revision)) {
    try {
      commit = readFileSync(join(storage, "refs", revision), "utf8").trim();
    } catch {
      return;
    }
  }
  return completeSnapshot(join(storage, "snapshots", commit));
}

interface Entry {
  path: string;
  size: number;
  etag: string;
  /** sha256 for LFS files, git blob sha1 for the rest */
  hash: "sha256" | "git-sha1";
}

/**
 * Download the model folder files of a Hub repository into the HF cache (what is there already
 * is kept) and return the snapshot folder.
 */
export async function downloadModel(id: HubId, options: DownloadOptions = {}): Promise<string> {
  const cacheDir = options.cacheDir ?? (await hubCacheDir());
  const endpoint = (options.endpoint ?? process.env.HF_ENDPOINT ?? "https://huggingface.co")
    .trim()
    .replace(/\/+$/, "");
  const offline = options.offline ?? truthy(process.env.HF_HUB_OFFLINE);
  const storage = repoFolder(cacheDir, id.repo);
  const label = id.revision === "main" ? id.repo : `${id.repo}@${id.revision}`;

  if (offline) {
    const dir = cachedSnapshot(storage, id.revision);
    if (dir) return dir;
    throw new UsageError(
      `${label} is not in the Hub cache ${cacheDir} and HF_HUB_OFFLINE is set: download it once online`,
    );
  }

  const hub = await import("@huggingface/hub");
  const accessToken = process.env.HF_TOKEN?.trim() || undefined;
  const common = { hubUrl: endpoint, ...(accessToken ? { accessToken } : {}) };

  let commit: string;
  try {
    const info = await hub.modelInfo({
      ...common,
      name: id.repo,
      revision: id.revision,
      additionalFields: ["sha"],
    });
    commit = String(info.sha);
    if (!COMMIT.test(commit)) throw new Error(`the Hub answered a bad commit id ${commit}`);
  } catch (error) {
    const cached = cachedSnapshot(storage, id.revision);
    if (cached && !(error instanceof hub.HubApiError)) return cached; // no network: use the cache
    throw hubError(error, label, endpoint);
  }
  if (id.revision !== commit) {
    await mkdir(join(storage, "refs", dirname(id.revision)), { recursive: true });
    await writeFile(join(storage, "refs", id.revision), commit);
  }
  const snapshot = join(storage, "snapshots", commit);
  const done = completeSnapshot(snapshot);
  if (done) return done;
  // One downloader per repository: two would append to the same .incomplete file.
  await mkdir(storage, { recursive: true });
  const lock = acquireLock(storage, `the Hub cache of ${id.repo} (${storage})`);
  try {
    return await fetchSnapshot(hub, common, id, commit, storage, label, options);
  } finally {
    lock.release();
  }
}

type HubModule = typeof import("@huggingface/hub");

/** List the commit's files and fetch those a model folder needs; returns the snapshot folder. */
async function fetchSnapshot(
  hub: HubModule,
  common: { hubUrl: string; accessToken?: string },
  id: HubId,
  commit: string,
  storage: string,
  label: string,
  options: DownloadOptions,
): Promise<string> {
  const snapshot = join(storage, "snapshots", commit);
  const endpoint = common.hubUrl;
  const listing = new Map<string, Entry>();
  try {
    for await (const e of hub.listFiles({ ...common, repo: id.repo, revision: commit })) {
      if (e.type !== "file") continue;
      listing.set(e.path, {
        path: e.path,
        size: e.lfs?.size ?? e.size,
        etag: e.lfs?.oid ?? String(e.oid),
        hash: e.lfs ? "sha256" : "git-sha1",
      });
    }
  } catch (error) {
    throw hubError(error, label, endpoint);
  }
  if (!listing.has("config.json")) {
    throw new UsageError(`${label} has no config.json: it is not a model repository`);
  }
  const get = (path: string) =>
    fetchFile(hub, common, id.repo, commit, storage, listing.get(path)!, options);

  for (const name of [...SMALL_FILES, INDEX]) if (listing.has(name)) await get(name);
  let weights: string[];
  if (listing.has(INDEX)) {
    const index = JSON.parse(await readFile(join(snapshot, INDEX), "utf8"));
    weights = [...new Set(Object.values(index.weight_map ?? {}) as string[])];
  } else if (listing.has(WEIGHTS)) {
    weights = [WEIGHTS];
  } else {
    throw new UsageError(
      `${label} has no ${WEIGHTS} (only ${[...listing.keys()].filter((f) => /\.(bin|pt|pth|gguf|h5)$/.test(f)).join(", ") || "other files"}): Rankwise reads safetensors weights`,
    );
  }
  for (const name of weights) {
    if (!listing.has(name))
      throw new UsageError(`${label}: ${INDEX} names ${name}, which is missing`);
    await get(name);
  }
  return snapshot;
}

/** One file into blobs/ (resuming a .incomplete one) and its snapshot symlink. */
async function fetchFile(
  hub: HubModule,
  common: { hubUrl: string; accessToken?: string },
  repo: string,
  commit: string,
  storage: string,
  entry: Entry,
  options: DownloadOptions,
): Promise<void> {
  const pointer = join(storage, "snapshots", commit, entry.path);
  if (existsSync(pointer)) return;
  if (!/^[0-9a-f]{40,64}$/.test(entry.etag) || entry.path.split("/").includes("..")) {
    throw new UsageError(`${repo}: the Hub listed a bad file ${JSON.stringify(entry.path)}`);
  }
  const blob = join(storage, "blobs", entry.etag);
  await mkdir(dirname(blob), { recursive: true });
  if (!existsSync(blob)) {
    const incomplete = `${blob}.incomplete`;
    let kept = statSync(incomplete, { throwIfNoEntry: false })?.size ?? 0;
    if (kept > entry.size) {
      await rm(incomplete, { force: true });
      kept = 0;
    }
    const progress = (bytes: number) =>
      options.onProgress?.({ repo, file: entry.path, bytes, total: entry.size, resumedFrom: kept });
    if (kept < entry.size) {
      let file: Blob | null;
      try {
        file = await hub.downloadFile({ ...common, repo, path: entry.path, revision: commit });
      } catch (error) {
        throw hubError(error, `${repo}/${entry.path}`, common.hubUrl);
      }
      if (!file) throw new UsageError(`${repo}: ${entry.path} is missing on the Hub`);
      const handle = await open(incomplete, "a");
      let bytes = kept;
      progress(bytes);
      try {
        // Each chunk is on disk before the next is read, so an interruption keeps all it got.
        const body = (kept > 0 ? file.slice(kept) : file).stream();
        for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
          await handle.write(chunk);
          bytes += chunk.length;
          progress(bytes);
        }
      } catch (error) {
        throw new UsageError(
          `download of ${repo}/${entry.path} was interrupted at ${bytes} of ${entry.size} bytes (${firstLine(error)}); run again to resume`,
        );
      } finally {
        await handle.close();
      }
    }
    const size = statSync(incomplete).size;
    if (size !== entry.size || (await fileHash(incomplete, entry.hash, size)) !== entry.etag) {
      await rm(incomplete, { force: true });
      throw new UsageError(
        `download of ${repo}/${entry.path} does not match the Hub's ${size !== entry.size ? `size (${size} of ${entry.size} bytes)` : "hash"}; it was removed: run again`,
      );
    }
    await rename(incomplete, blob);
  }
  await mkdir(dirname(pointer), { recursive: true });
  await symlink(relative(dirname(pointer), blob), pointer);
}

/** SHA-256 of the file (LFS oid), or git's blob id (SHA-1 of "blob <size>\0" + content). */
async function fileHash(path: string, kind: Entry["hash"], size: number): Promise<string> {
  const hash = createHash(kind === "sha256" ? "sha256" : "sha1");
  if (kind === "git-sha1") hash.update(`blob ${size}\0`);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

const firstLine = (error: unknown) =>
  (error instanceof Error ? error.message : String(error)).split("\n")[0];

/** One line for a failed Hub request. */
function hubError(error: unknown, what: string, endpoint: string): Error {
  if (error instanceof UsageError) return error;
  const status = (error as { statusCode?: number }).statusCode;
  if (status === 401 || status === 403 || status === 404) {
    return new UsageError(
      `${what} was not found on ${endpoint} (HTTP ${status}): check the id and revision${status === 404 ? "" : ", or set HF_TOKEN for a private or gated model"}`,
    );
  }
  if (typeof status === "number") {
    return new UsageError(`${endpoint} answered HTTP ${status} for ${what}: ${firstLine(error)}`);
  }
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return new UsageError(
    `cannot reach ${endpoint} for ${what} (${cause?.code ?? cause?.message ?? firstLine(error)}); set HF_HUB_OFFLINE=1 to use the cache only`,
  );
}

/** A progress line on stderr per file (throttled), for the command line. */
export function stderrProgress(): (p: DownloadProgress) => void {
  let last = 0;
  return (p) => {
    const now = Date.now();
    const finished = p.bytes >= p.total;
    if (!finished && now - last < 250 && p.bytes !== p.resumedFrom) return;
    last = now;
    const mb = (n: number) => (n / 1e6).toFixed(1);
    const resumed = p.resumedFrom > 0 ? `, resumed at ${mb(p.resumedFrom)} MB` : "";
    const pct = p.total > 0 ? Math.floor((100 * p.bytes) / p.total) : 100;
    const line = `downloading ${p.repo}/${p.file}: ${mb(p.bytes)}/${mb(p.total)} MB (${pct}%${resumed})`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K${finished ? "\n" : ""}`);
    else if (finished || p.bytes === p.resumedFrom) process.stderr.write(`${line}\n`);
  };
}
