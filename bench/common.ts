/**
 * Shared machinery of the benchmarks: machine description, load, robust statistics, child
 * processes (one per thread count — jax-js fixes its wasm thread pool when first imported) and
 * result files.
 *
 * A benchmark script runs in one of two roles:
 *   parent: spawns itself as a child per configuration (env RANKWISE_THREADS and BENCH_CHILD_OUT),
 *           alternating configurations over rounds so that load drifts hit all of them alike, and
 *           writes bench/results/<name>.json;
 *   child:  measures one configuration and writes its JSON to the file named by BENCH_CHILD_OUT.
 * This module never imports jax-js, so a parent stays light.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, getPriority, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = dirname(BENCH_DIR);
export const RESULTS_DIR = join(BENCH_DIR, "results");
export const PYTHON = process.env.BENCH_PYTHON ?? "/usr/bin/python3";

export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  jax: string;
  platform: string;
  /** Scheduling niceness of the benchmark (children inherit it; e.g. `nice -n -10 npm run bench`). */
  nice: number;
  /** Linux's per-session CPU sharing (sched_autogroup): when enabled, `nice` only ranks processes
   *  of the same session, and the session's own niceness (/proc/self/autogroup) is what counts
   *  against other sessions' processes. */
  autogroup?: { enabled: boolean; nice: number };
}

function autogroup(): Machine["autogroup"] {
  try {
    const enabled = readFileSync("/proc/sys/kernel/sched_autogroup_enabled", "utf8").trim() === "1";
    const nice = Number(
      /nice (-?\d+)/.exec(readFileSync("/proc/self/autogroup", "utf8"))?.[1] ?? 0,
    );
    return { enabled, nice };
  } catch {
    return undefined; // not Linux, or a kernel without autogroup
  }
}

export function machine(): Machine {
  let cpu = cpus()[0]?.model ?? "unknown";
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8")
      .split("\n")
      .find((l) => l.startsWith("model name"));
    if (line) cpu = line.split(":")[1]!.trim();
  } catch {
    // not Linux: keep os.cpus()'s model
  }
  const jax = JSON.parse(
    readFileSync(join(ROOT, "node_modules", "@jax-js", "jax", "package.json"), "utf8"),
  ).version as string;
  return {
    cpu,
    cores: cpus().length,
    node: process.version,
    jax,
    platform: `${process.platform}-${process.arch}`,
    nice: getPriority(),
    autogroup: autogroup(),
  };
}

/** 1-minute load average, rounded. It counts the benchmark's own threads too. */
export const load1 = (): number => Math.round(loadavg()[0]! * 100) / 100;

export interface LoadRecord {
  /** 1-minute load average when the process started and ended (includes itself). */
  start: number;
  end: number;
  /** CPU cores used on average by *other* processes while this one ran: busy time of the whole
   *  machine (/proc/stat) minus this process's own CPU time, over wall time. */
  others?: number;
}

/** Busy CPU seconds of the whole machine so far (Linux), or undefined. */
function machineBusySeconds(): number | undefined {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/);
    // cpu user nice system idle iowait irq softirq steal ...; USER_HZ is 100 on Linux.
    const [user, nice, system, , , irq, softirq, steal] = fields.slice(1).map(Number);
    return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / 100;
  } catch {
    return undefined;
  }
}

/** Start watching the load; call the returned function at the end of the measurement. */
export function loadProbe(): () => LoadRecord {
  const start = load1();
  const busy0 = machineBusySeconds();
  const own0 = process.cpuUsage();
  const wall0 = performance.now();
  return () => {
    const busy1 = machineBusySeconds();
    const own = process.cpuUsage(own0);
    const wall = (performance.now() - wall0) / 1000;
    const record: LoadRecord = { start, end: load1() };
    if (busy0 !== undefined && busy1 !== undefined && wall > 0) {
      const ownSeconds = (own.user + own.system) / 1e6;
      record.others = Math.max(0, Math.round(((busy1 - busy0 - ownSeconds) / wall) * 100) / 100);
    }
    return record;
  };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export const mean = (xs: readonly number[]): number =>
  xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;

export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export const summarize = (xs: readonly number[]): Summary => ({
  median: median(xs),
  min: Math.min(...xs),
  max: Math.max(...xs),
  n: xs.length,
});

/** Run `fn` `warmup` times untimed, then `reps` times; milliseconds of each timed run. */
export async function timeRuns(
  fn: () => Promise<void>,
  { warmup, reps }: { warmup: number; reps: number },
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  return times;
}

/** Peak resident set size of this process so far, in MiB. */
export const peakRssMiB = (): number => process.resourceUsage().maxRSS / 1024;

export const round = (x: number, digits = 2): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

// ---------------------------------------------------------------------------------------------
// Parent / child protocol

export const isChild = (): boolean => process.env.BENCH_CHILD_OUT !== undefined;

/** Child side: hand the measurement to the parent. */
export function reportToParent(result: unknown): void {
  writeFileSync(process.env.BENCH_CHILD_OUT!, JSON.stringify(result));
}

/** Thread count of this (child) process, as the engine will read it. */
export const childThreads = (): number => Number(process.env.RANKWISE_THREADS ?? "1");

/**
 * Run `command args` with extra environment; the child writes its JSON to the file in
 * BENCH_CHILD_OUT (its stderr passes through). Rejects if it fails.
 */
export async function runChild<T>(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "rankwise-bench-"));
  const out = join(dir, "result.json");
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(command, args, {
        cwd: ROOT,
        env: { ...process.env, ...env, BENCH_CHILD_OUT: out },
        stdio: ["ignore", "inherit", "inherit"],
      });
      child.on("error", reject);
      child.on("exit", resolve);
    });
    if (code !== 0) throw new Error(`${command} ${args.join(" ")} exited with ${code}`);
    return JSON.parse(readFileSync(out, "utf8")) as T;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Spawn a bench script (path relative to the repository) under tsx with a thread count. */
export const runScript = <T>(
  script: string,
  threads: number,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<T> =>
  runChild<T>(process.execPath, ["--import", "tsx", script, ...args], {
    ...env,
    RANKWISE_THREADS: String(threads),
  });

/** Run a Python child (bench/torch_*.py) under BENCH_PYTHON, leaving no __pycache__ behind. */
export const runPython = <T>(script: string, args: string[]): Promise<T> =>
  runChild<T>(PYTHON, [script, ...args], { PYTHONDONTWRITEBYTECODE: "1" });

/** Run `configs` `rounds` times, alternating (a, b, a, b, ...), and group the results. */
export async function alternate<C, R>(
  configs: readonly C[],
  rounds: number,
  run: (config: C, round: number) => Promise<R>,
): Promise<R[][]> {
  const results: R[][] = configs.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [i, config] of configs.entries()) results[i]!.push(await run(config, r));
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// Results

export interface ResultFile {
  benchmark: string;
  /** How to reproduce it. */
  command: string;
  date: string;
  machine: Machine;
  /** 1-minute load averages at the start and end of the whole run. */
  load: { start: number; end: number };
  [key: string]: unknown;
}

export function writeResult(name: string, result: ResultFile): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
  process.stderr.write(`wrote ${path}\n`);
  return path;
}

export const log = (message: string): void => {
  process.stderr.write(`${message}\n`);
};

/** End a parent with its error's one-line message (no stack: the message says what to do). */
export function fail(error: Error): never {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}
