/**
 * `rankwise playground [--port p] [--host h]`: serve the browser app built at `npm run build`
 * (dist/playground: index.html + playground.js) over HTTP and print its URL. The page's text
 * comes from here too: `corpus/<name>.txt` is a slice of a bundled corpus (the npm packages), so
 * the app works offline and loads nothing from other hosts.
 */
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { loadCorpus } from "../data/corpus.js";
import { UsageError } from "../engine/errors.js";

/** Characters of each corpus the page gets: enough for the small presets, quick to tokenize. */
export const CORPUS_SLICE = 300_000;
const CORPORA = ["moby-dick", "sotu"];
/** The built app: dist/playground, the same path from src/cli (tests) and dist/cli. */
export const PLAYGROUND_DIR = fileURLToPath(new URL("../../dist/playground/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".wasm": "application/wasm",
  ".json": "application/json",
};

export interface PlaygroundServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** Serve `root` (default: the built app) on host:port; port 0 picks a free one. */
export async function servePlayground(o: {
  port: number;
  host: string;
  root?: string;
}): Promise<PlaygroundServer> {
  const root = normalize(o.root ?? PLAYGROUND_DIR);
  if (!existsSync(join(root, "index.html")) || !existsSync(join(root, "playground.js"))) {
    throw new Error(`the playground is not built in ${root} (run npm run build)`);
  }
  const slices = new Map<string, string>();
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const corpus = /^\/corpus\/([a-z-]+)\.txt$/.exec(path)?.[1];
    if (corpus !== undefined && CORPORA.includes(corpus)) {
      if (!slices.has(corpus)) slices.set(corpus, loadCorpus(corpus).text.slice(0, CORPUS_SLICE));
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8" }).end(slices.get(corpus));
      return;
    }
    const file = normalize(join(root, path === "/" ? "index.html" : path));
    if (!file.startsWith(root.endsWith(sep) ? root : root + sep) || !existsSync(file)) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    const type = TYPES[extname(file)];
    if (type === undefined) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    try {
      res.writeHead(200, { "content-type": type }).end(readFileSync(file));
    } catch {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE") {
        reject(new UsageError(`--port ${o.port} is in use on ${o.host}; pick another port`));
      } else if (error.code === "EADDRNOTAVAIL" || error.code === "ENOTFOUND") {
        reject(new UsageError(`--host ${o.host} is not an address of this machine`));
      } else reject(error);
    });
    server.listen(o.port, o.host, resolve);
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${shown}:${address.port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Parse --port: an integer in 0..65535 (0 = any free port). */
export function parsePort(raw: string): number {
  const port = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(port) || port > 65535) {
    throw new UsageError(`--port must be an integer from 0 to 65535, got "${raw}"`);
  }
  return port;
}

export async function playgroundCommand(opts: { port?: string; host?: string }): Promise<void> {
  const port = parsePort(opts.port ?? "8080");
  const host = opts.host ?? "127.0.0.1";
  if (host.trim() === "")
    throw new UsageError("--host must be a host name or address, got an empty string");
  const { url } = await servePlayground({ port, host });
  process.stdout.write(`rankwise playground: ${url} (Ctrl-C stops)\n`);
}
