/**
 * Helpers for end-to-end tests of the built `rankwise` command (bin/rankwise.js → dist/).
 * `npm test` builds before vitest runs; run `npm run build` first when running these alone.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const BIN = join(ROOT, "bin", "rankwise.js");

/** Throw a readable error when the CLI has not been built. */
export function requireBuild(): void {
  if (!existsSync(join(ROOT, "dist", "cli", "main.js"))) {
    throw new Error("dist/cli/main.js is missing: run `npm run build` before these tests");
  }
}

/** Small and fast: a run of a few steps takes about a second. */
export const FAST = [
  "--model",
  "tiny",
  "--seq-len",
  "16",
  "--batch-size",
  "4",
  "--sample-length",
  "20",
  "--quiet",
];

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

const env = () => ({ ...process.env, RANKWISE_THREADS: "1", NO_COLOR: "1" });

export function cli(args: string[], cwd = ROOT): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, env: env(), encoding: "utf8" });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `cli` without blocking, so independent invocations can run side by side. */
export function cliAsync(args: string[], cwd = ROOT): Promise<CliResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: env(), stdio: "pipe" });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.on("error", fail);
    child.on("close", (status) => done({ status, stdout, stderr }));
  });
}

/** Run and require exit code 0 (the failure message shows stderr). */
export function cliOk(args: string[], cwd = ROOT): CliResult {
  const r = cli(args, cwd);
  if (r.status !== 0) {
    throw new Error(`rankwise ${args.join(" ")} exited ${r.status}:\n${r.stderr}\n${r.stdout}`);
  }
  return r;
}

/** Start the CLI without waiting (for signals). */
export function cliSpawn(args: string[]) {
  return spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: env(), stdio: "pipe" });
}

export const tempDir = (prefix = "rankwise-cli-") => mkdtempSync(join(tmpdir(), prefix));

export type Row = Record<string, unknown> & { type: string; step: number };

/** metrics.jsonl, parsed line by line (every line must be JSON). */
export function metrics(dir: string): Row[] {
  const path = join(dir, "metrics.jsonl");
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Row);
}

export const trainRows = (dir: string) =>
  metrics(dir).filter((r) => r.type === "train") as (Row & { loss: number; lr: number })[];

/** Every file under `dir` (recursively) with its bytes, for "nothing was lost" checks. */
export function snapshot(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else files.set(p.slice(dir.length + 1), readFileSync(p));
    }
  };
  walk(dir);
  return files;
}

/** |a - b| ≤ rtol·|b|. */
export const relClose = (a: number, b: number, rtol = 1e-6) =>
  Math.abs(a - b) <= rtol * Math.abs(b);
