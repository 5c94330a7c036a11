/**
 * The frame that the benchmarks comparing CLI runs (mixing, reweight, monitors, finetune,
 * adapters) share, so that each file holds only what it measures:
 *   - `benchFlags()`: their --quick / --keep / --smoke flags;
 *   - `benchRun(...)`: a temporary work folder for the runs (removed afterwards unless kept), and
 *     the result file written with the fields every result starts with (benchmark, command,
 *     date, machine, load, threads, quick) and ends with (minutes);
 *   - `runArgv(...)` / `runRows(...)`: one `train` or `finetune` run's argv, and its metrics rows
 *     by type;
 *   - `comparisonBudget(...)`: the budget of the `train` flag comparisons (mixing, reweight).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Budget, QUICK_BUDGET, type Row, readRows, SMOKE_BUDGET } from "./cli-runs.js";
import { load1, log, machine, round, writeResult } from "./common.js";

/** --quick, --keep and --smoke of the command line. */
export function benchFlags(): { quick: boolean; keep: boolean; smoke: boolean } {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      keep: { type: "boolean" },
      smoke: { type: "boolean" },
    },
  });
  return { quick: Boolean(values.quick), keep: Boolean(values.keep), smoke: Boolean(values.smoke) };
}

/** What `benchRun`'s body gets: its work folder and the result writer. */
export interface BenchContext {
  work: string;
  /** Write bench/results/<name>[-quick|-smoke].json: the common fields around `fields`. */
  write(fields: Row): void;
}

/** Run `body` in a fresh work folder for benchmark `name` (see the file header). */
export async function benchRun(
  name: string,
  mode: { quick: boolean; smoke?: boolean; keep?: boolean },
  body: (ctx: BenchContext) => Promise<void>,
): Promise<void> {
  const started = performance.now();
  const loadStart = load1();
  const file = mode.smoke ? `${name}-smoke` : mode.quick ? `${name}-quick` : name;
  const args = process.argv.slice(2).filter((a) => a !== "--keep");
  const write = (fields: Row) =>
    writeResult(file, {
      benchmark: name,
      command: [`npm run bench -- ${name}`, ...args].join(" "),
      date: new Date().toISOString(),
      machine: machine(),
      load: { start: loadStart, end: load1() },
      threads: 1,
      quick: mode.quick,
      ...fields,
      minutes: round((performance.now() - started) / 60000, 1),
    });
  const work = mkdtempSync(join(tmpdir(), `rankwise-bench-${name}-`));
  try {
    await body({ work, write });
  } finally {
    if (mode.keep) log(`runs kept in ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

/**
 * `rankwise <command> --model <model> --data <data> <flags> --optimizer adamw [--lr <lr>]
 * --steps <budget's> <common> --out <out>`.
 */
export const runArgv = (
  command: "train" | "finetune",
  o: { model: string; data: string; flags: string[]; lr?: number; budget: Budget },
  common: string[],
  out: string,
): string[] => [
  command,
  "--model",
  o.model,
  "--data",
  o.data,
  ...o.flags,
  "--optimizer",
  "adamw",
  ...(o.lr === undefined ? [] : ["--lr", String(o.lr)]),
  "--steps",
  String(o.budget.steps),
  ...common,
  "--out",
  out,
];

/** A run's metrics rows, and its train and eval rows. */
export function runRows(out: string): { rows: Row[]; train: Row[]; evals: Row[] } {
  const rows = readRows(out);
  return {
    rows,
    train: rows.filter((x) => x.type === "train"),
    evals: rows.filter((x) => x.type === "eval"),
  };
}

/** The small preset for 400 steps (150 with --quick; the smoke budget with --smoke), evaluated every 25. */
export const comparisonBudget = (quick: boolean, smoke: boolean): Budget =>
  smoke
    ? SMOKE_BUDGET
    : { ...QUICK_BUDGET, steps: quick ? 150 : 400, evalEvery: 25, evalBatches: 8, logEvery: 5 };
