/**
 * Hub downloads, offline: a loopback HTTP server (node:http) serves a small model repository with
 * the routes @huggingface/hub calls (model info, tree listing, resolve with Range requests).
 * Checked: the HF cache layout (blobs by etag, snapshot symlinks, refs/main), the opened model's
 * numbers, a download cut mid-file and continued with a Range request, a second open from the
 * cache with the server stopped, HF_HUB_OFFLINE, and missing repositories/revisions/weights as
 * one line.
 */
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import type { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CharTokenizer } from "../../src/data/tokenizer.js";
import { tokenizerFileText } from "../../src/data/tokenizer-file.js";
import { UsageError } from "../../src/engine/errors.js";
import * as tree from "../../src/engine/tree.js";
import { type DownloadProgress, downloadModel, parseHubId } from "../../src/io/hub.js";
import { initLlama } from "../../src/nn/llama.js";
import { llamaPreset } from "../../src/nn/llama-config.js";
import { openModel } from "../../src/nn/open-model.js";
import { saveModel } from "../../src/nn/pretrained.js";
import { setup } from "../helpers/engine.js";

const REPO = "rankwise-test/tiny";
const BIN_ONLY = "rankwise-test/pytorch-only";
const COMMIT = createHash("sha1").update("the one commit").digest("hex");
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const gitOid = (b: Buffer) =>
  createHash("sha1")
    .update(Buffer.concat([Buffer.from(`blob ${b.length}\0`), b]))
    .digest("hex");

interface Served {
  bytes: Buffer;
  lfs: boolean;
}

/** A fake Hub: the routes, a request log, and a switch that cuts the next weights download. */
class FakeHub {
  server!: Server;
  log: { url: string; range?: string }[] = [];
  /** Cut the next full download of model.safetensors after this many bytes. */
  cutAt?: number;
  repos = new Map<string, Map<string, Served>>();

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private notFound(res: ServerResponse, code: string, message: string) {
    res.writeHead(404, { "Content-Type": "application/json", "X-Error-Code": code });
    res.end(JSON.stringify({ error: message }));
  }

  private handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url!, "http://x");
    this.log.push({ url: url.pathname, range: req.headers.range });
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree)\/([^/]+)$/.exec(url.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const repo = this.repos.get((api ?? resolve)?.[1] ?? "");
    if (!repo) return this.notFound(res, "RepoNotFound", "Repository not found");
    const rev = decodeURIComponent((api ? api[3] : resolve![2]) ?? "");
    if (rev !== "main" && rev !== COMMIT) {
      return this.notFound(res, "RevisionNotFound", `Invalid rev id: ${rev}`);
    }
    if (api?.[2] === "revision") {
      res.writeHead(200, { "Content-Type": "application/json" });
      return res.end(
        JSON.stringify({ _id: "1", id: api[1], sha: COMMIT, private: false, lastModified: "" }),
      );
    }
    if (api?.[2] === "tree") {
      const entries = [...repo].map(([path, f]) => ({
        type: "file",
        path,
        size: f.lfs ? 134 : f.bytes.length,
        oid: gitOid(f.lfs ? Buffer.from(`pointer ${path}`) : f.bytes),
        ...(f.lfs ? { lfs: { oid: sha256(f.bytes), size: f.bytes.length, pointerSize: 134 } } : {}),
      }));
      res.writeHead(200, { "Content-Type": "application/json" });
      return res.end(JSON.stringify(entries));
    }
    const file = repo.get(resolve![3]);
    if (!file) return this.notFound(res, "EntryNotFound", "Entry not found");
    const etag = `"${file.lfs ? sha256(file.bytes) : gitOid(file.bytes)}"`;
    const size = file.bytes.length;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    if (range) {
      const start = Number(range[1]);
      const end = range[2] === "" ? size - 1 : Math.min(Number(range[2]), size - 1);
      res.writeHead(206, {
        "Content-Range": `bytes ${start}-${end}/${size}`,
        "Content-Length": end - start + 1,
        "Accept-Ranges": "bytes",
        ETag: etag,
      });
      return res.end(file.bytes.subarray(start, end + 1));
    }
    res.writeHead(200, { "Content-Length": size, "Accept-Ranges": "bytes", ETag: etag });
    if (this.cutAt !== undefined && resolve![3] === "model.safetensors") {
      const cut = this.cutAt;
      this.cutAt = undefined;
      res.write(file.bytes.subarray(0, cut));
      setTimeout(() => res.socket?.destroy(), 100); // the connection drops mid-file
      return;
    }
    res.end(file.bytes);
  }
}

let root: string;
let hub: FakeHub;
let endpoint: string;
let params: Record<string, np.Array>;
let files: Map<string, Served>;
const char = CharTokenizer.fromText("abcdefgh \n");

beforeAll(async () => {
  await setup();
  root = mkdtempSync(join(tmpdir(), "rankwise-hub-"));
  const folder = join(root, "folder");
  const config = llamaPreset("tiny", char.vocabSize);
  params = initLlama(config, 5);
  await saveModel(folder, { config, params });
  writeFileSync(join(folder, "tokenizer.json"), tokenizerFileText(char));
  files = new Map([
    ["config.json", { bytes: readFileSync(join(folder, "config.json")), lfs: false }],
    ["model.safetensors", { bytes: readFileSync(join(folder, "model.safetensors")), lfs: true }],
    ["tokenizer.json", { bytes: readFileSync(join(folder, "tokenizer.json")), lfs: false }],
    [".gitattributes", { bytes: Buffer.from("*.safetensors filter=lfs\n"), lfs: false }],
  ]);
  hub = new FakeHub();
  hub.repos.set(REPO, files);
  hub.repos.set(
    BIN_ONLY,
    new Map([
      ["config.json", files.get("config.json")!],
      ["pytorch_model.bin", { bytes: Buffer.alloc(64), lfs: true }],
    ]),
  );
  endpoint = await hub.start();
});
afterAll(async () => {
  await hub.stop().catch(() => {});
  tree.dispose(params);
  rmSync(root, { recursive: true, force: true });
});

const bits = (a: np.Array) =>
  Array.from(new Uint32Array((a.ref.dataSync() as Float32Array).slice().buffer));
const message = (p: Promise<unknown>) =>
  p.then(
    () => "resolved",
    (e) => {
      expect(e).toBeInstanceOf(UsageError);
      expect(e.message).not.toContain("\n");
      return e.message as string;
    },
  );

describe("Hub ids", () => {
  test("parse owner/name and @revision", () => {
    expect(parseHubId("a/b")).toEqual({ repo: "a/b", revision: "main" });
    expect(parseHubId("a/b@v1.0")).toEqual({ repo: "a/b", revision: "v1.0" });
    expect(() => parseHubId("a")).toThrow(/not a Hub id: expected owner\/name/);
  });

  test("a download lands in the HF cache layout and opens to the saved model", async () => {
    const cacheDir = join(root, "cache-1");
    const seen: DownloadProgress[] = [];
    const opened = await openModel(REPO, { cacheDir, endpoint, onProgress: (p) => seen.push(p) });
    const storage = join(cacheDir, "models--rankwise-test--tiny");
    const weights = files.get("model.safetensors")!.bytes;
    expect(opened.source).toEqual({ kind: "hub", path: join(storage, "snapshots", COMMIT) });
    expect(readFileSync(join(storage, "refs", "main"), "utf8")).toBe(COMMIT);
    const link = join(storage, "snapshots", COMMIT, "model.safetensors");
    expect(readlinkSync(link)).toBe(join("..", "..", "blobs", sha256(weights)));
    expect(readFileSync(link).equals(weights)).toBe(true);
    const config = join(storage, "blobs", gitOid(files.get("config.json")!.bytes));
    expect(statSync(config).isFile()).toBe(true);
    expect(existsSync(join(storage, "snapshots", COMMIT, ".gitattributes"))).toBe(false);
    expect(opened.tokenizer.toJSON()).toEqual(char.toJSON());
    for (const k of Object.keys(params)) expect(bits(opened.params[k])).toEqual(bits(params[k]));
    tree.dispose(opened.params);
    const last = seen.filter((p) => p.file === "model.safetensors").at(-1)!;
    expect(last).toMatchObject({ bytes: weights.length, total: weights.length, resumedFrom: 0 });
  });

  test("an interrupted download resumes from its .incomplete file with a Range request", async () => {
    const cacheDir = join(root, "cache-2");
    const weights = files.get("model.safetensors")!.bytes;
    const blob = join(cacheDir, "models--rankwise-test--tiny", "blobs", sha256(weights));
    hub.cutAt = Math.floor(weights.length / 2);
    const first = await message(downloadModel(parseHubId(REPO), { cacheDir, endpoint }));
    expect(first).toMatch(
      /download of rankwise-test\/tiny\/model\.safetensors was interrupted at \d+ of \d+ bytes .*run again to resume/,
    );
    const kept = statSync(`${blob}.incomplete`).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(weights.length);
    expect(readFileSync(`${blob}.incomplete`).equals(weights.subarray(0, kept))).toBe(true);

    hub.log = [];
    const seen: DownloadProgress[] = [];
    await downloadModel(parseHubId(REPO), { cacheDir, endpoint, onProgress: (p) => seen.push(p) });
    const ranges = hub.log.filter(
      (r) => r.url.endsWith("/model.safetensors") && r.range !== "bytes=0-0",
    );
    expect(ranges.map((r) => r.range)).toEqual([`bytes=${kept}-${weights.length - 1}`]);
    expect(seen[0]).toMatchObject({ file: "model.safetensors", bytes: kept, resumedFrom: kept });
    expect(readFileSync(blob).equals(weights)).toBe(true);
    expect(existsSync(`${blob}.incomplete`)).toBe(false);
    expect(existsSync(join(cacheDir, "models--rankwise-test--tiny", ".lock"))).toBe(false);
  });

  test("a second process downloading the same repository is refused, not interleaved", async () => {
    const cacheDir = join(root, "cache-4");
    const storage = join(cacheDir, "models--rankwise-test--tiny");
    mkdirSync(storage, { recursive: true });
    // A live process (this one's parent) holds the repository's lock.
    const owner = { pid: process.ppid, host: hostname(), since: new Date().toISOString() };
    writeFileSync(join(storage, ".lock"), JSON.stringify(owner));
    expect(await message(downloadModel(parseHubId(REPO), { cacheDir, endpoint }))).toMatch(
      new RegExp(`Hub cache of rankwise-test/tiny .* is in use by process ${process.ppid}`),
    );
    expect(existsSync(join(storage, "blobs"))).toBe(false);
  });

  test("missing repositories, revisions and weights are one line", async () => {
    const cacheDir = join(root, "cache-3");
    expect(await message(openModel("nobody/nothing", { cacheDir, endpoint }))).toMatch(
      /^nobody\/nothing was not found on http:\/\/127\.0\.0\.1:\d+ \(HTTP 404\): check the id and revision$/,
    );
    // A path whose first folder exists is named as a path too.
    const local = join(root, "cache-3", "runs");
    mkdirSync(local, { recursive: true });
    const cwd = process.cwd();
    process.chdir(join(root, "cache-3"));
    try {
      expect(await message(openModel("runs/lion2", { cacheDir, endpoint }))).toMatch(
        /^no model folder at runs\/lion2 \(runs\/ has none\), and as a Hub id: runs\/lion2 was not found on .* \(HTTP 404\)/,
      );
    } finally {
      process.chdir(cwd);
    }
    expect(await message(openModel(`${REPO}@v9`, { cacheDir, endpoint }))).toMatch(
      /^rankwise-test\/tiny@v9 was not found on .* \(HTTP 404\)/,
    );
    expect(await message(openModel(BIN_ONLY, { cacheDir, endpoint }))).toMatch(
      /^rankwise-test\/pytorch-only has no model\.safetensors \(only pytorch_model\.bin\): Rankwise reads safetensors weights$/,
    );
    expect(await message(openModel(REPO, { cacheDir, offline: true }))).toMatch(
      /^rankwise-test\/tiny is not in the Hub cache .*cache-3 and HF_HUB_OFFLINE is set/,
    );
  });

  test("with the server stopped, a cached model opens from the cache (HF_ENDPOINT, HF_HUB_OFFLINE)", async () => {
    const cacheDir = join(root, "cache-1"); // filled by the first test
    await hub.stop();
    const saved = { ...process.env };
    try {
      process.env.HF_ENDPOINT = endpoint;
      const fromCache = await openModel(REPO, { cacheDir });
      expect(fromCache.source.path).toBe(
        join(cacheDir, "models--rankwise-test--tiny", "snapshots", COMMIT),
      );
      for (const k of Object.keys(params))
        expect(bits(fromCache.params[k])).toEqual(bits(params[k]));
      tree.dispose(fromCache.params);

      process.env.HF_HUB_OFFLINE = "1";
      const offline = await openModel(`${REPO}@${COMMIT}`, { cacheDir });
      tree.dispose(offline.params);
      delete process.env.HF_HUB_OFFLINE;
      expect(await message(openModel("nobody/nothing", { cacheDir }))).toMatch(
        /^cannot reach http:\/\/127\.0\.0\.1:\d+ for nobody\/nothing \(ECONNREFUSED\); set HF_HUB_OFFLINE=1 to use the cache only$/,
      );
    } finally {
      process.env = saved;
    }
  });
});
