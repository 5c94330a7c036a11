/**
 * `rankwise compare`: several optimizers, same model, data, seed and steps; one report.
 *
 * Every spec is validated (options built, duplicates refused) before anything trains. The plan —
 * each spec with its resolved configuration — is written to <out>/compare.json first, so that
 * `compare --resume <out>` can continue an interrupted comparison: finished runs are kept, the
 * interrupted one resumes from its checkpoint, the rest start.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomicSync } from "../io/atomic.js";
import { ensureOutputDir } from "../io/output-dir.js";
import { writeReport } from "../report/index.js";
import { checkpointPath } from "../train/checkpoint.js";
import { type TrainConfig, UsageError, validateConfig } from "../train/config.js";
import { readMetrics } from "../train/metrics.js";
import { buildOptimizer } from "../train/optimizer.js";
import { getOptimizer } from "../train/registry.js";
import { type TrainResult, train } from "../train/trainer.js";
import { interruptSignal, timestamp } from "./train.js";
import { configFromFlags } from "./train-flags.js";

const PLAN = "compare.json";
const FORMAT = "rankwise-compare-1";

interface Plan {
  format: string;
  runs: { spec: string; dir: string; config: TrainConfig }[];
}

/** "lion:b2=0.98,weightDecay=0.1" → name and options. */
export function parseSpec(spec: string): { name: string; options: Record<string, string> } {
  const [name, rest] = spec.split(":", 2);
  const options: Record<string, string> = {};
  for (const pair of rest ? rest.split(",") : []) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`optimizer spec "${spec}": options must look like key=value`);
    options[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { name, options };
}

/** Folder of a spec's run inside the comparison folder. */
const runDir = (spec: string) => spec.replace(/[^\w.=-]+/g, "_");

/** Resolve and check every spec (options included) before anything trains. */
export function planComparison(base: Record<string, unknown>, specs: string[]): Plan {
  if (specs.length === 0) throw new UsageError("--optimizers needs at least one optimizer");
  const seen = new Map<string, string>();
  const runs = specs.map((spec) => {
    const { name, options } = parseSpec(spec);
    const config = validateConfig({
      ...base,
      optimizer: name,
      optimizerOptions: { ...(base.optimizerOptions as object), ...options },
    });
    buildOptimizer(config); // option values are only checked when the optimizer is built
    // Same optimizer with the same effective options (defaults filled in) = a duplicate.
    const effective: Record<string, unknown> = {};
    for (const o of getOptimizer(config.optimizer).options) effective[o.name] = o.default;
    Object.assign(effective, config.optimizerOptions);
    const sorted = Object.entries(effective).sort(([a], [b]) => a.localeCompare(b));
    const key = JSON.stringify([config.optimizer, sorted]);
    const dir = runDir(spec);
    const twin = seen.get(key) ?? seen.get(dir);
    if (twin !== undefined) {
      throw new UsageError(`--optimizers lists the same optimizer twice: "${twin}" and "${spec}"`);
    }
    seen.set(key, spec);
    seen.set(dir, spec);
    return { spec, dir, config };
  });
  return { format: FORMAT, runs };
}

function readPlan(out: string): Plan {
  const path = join(out, PLAN);
  if (!existsSync(path)) {
    throw new UsageError(`cannot resume: ${out} holds no comparison (no ${PLAN})`);
  }
  try {
    const plan = JSON.parse(readFileSync(path, "utf8")) as Plan;
    if (plan.format !== FORMAT || !Array.isArray(plan.runs))
      throw new Error(`not a ${FORMAT} file`);
    for (const run of plan.runs) run.config = validateConfig(run.config as never);
    return plan;
  } catch (error) {
    throw new UsageError(`corrupt comparison: ${path}: ${(error as Error).message.split("\n")[0]}`);
  }
}

/** Step of the run's checkpoint, or undefined when it has none. */
function checkpointStep(dir: string): number | undefined {
  try {
    return JSON.parse(readFileSync(join(checkpointPath(dir), "trainer.json"), "utf8")).step;
  } catch {
    return undefined;
  }
}

/** A finished run's result, read back from its metrics. */
function finishedResult(dir: string, step: number): TrainResult {
  const rows = readMetrics(join(dir, "metrics.jsonl"));
  const last = (type: string) => rows.filter((r) => r.type === type).at(-1) ?? {};
  const train = last("train") as { loss?: number; stateBytes?: number; elapsed?: number };
  const evalRow = last("eval") as { valLoss?: number; elapsed?: number };
  const sample = last("sample") as { text?: string };
  return {
    out: dir,
    step,
    trainLoss: train.loss ?? Number.NaN,
    valLoss: evalRow.valLoss ?? Number.NaN,
    sample: sample.text ?? "",
    interrupted: false,
    stateBytes: train.stateBytes ?? 0,
    elapsed: evalRow.elapsed ?? train.elapsed ?? 0,
  };
}

export async function compareCommand(opts: Record<string, unknown>): Promise<void> {
  let out: string;
  let plan: Plan;
  if (opts.resume !== undefined) {
    out = String(opts.resume);
    const given = Object.keys(opts).filter((k) => !["resume", "out", "quiet"].includes(k));
    if (given.length > 0) {
      throw new UsageError(
        `compare --resume takes no other options (its settings are in ${join(out, PLAN)}); got --${given[0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
      );
    }
    plan = readPlan(out);
  } else {
    if (opts.optimizers === undefined) {
      throw new UsageError("compare needs --optimizers (e.g. --optimizers adamw lion)");
    }
    const specs = (opts.optimizers as string[]).flatMap((s) => s.split(/\s+/)).filter(Boolean);
    plan = planComparison(configFromFlags(opts), specs);
    out = String(opts.out ?? join("runs", `compare-${timestamp()}`));
    const created = ensureOutputDir(out);
    if (existsSync(join(out, PLAN))) {
      throw new UsageError(
        `${out} already holds a comparison: continue it with compare --resume ${out}, or choose another --out`,
      );
    }
    if (created.length === 0 && readdirSync(out).length > 0) {
      throw new UsageError(`--out ${out} is not empty: choose a new or empty folder`);
    }
    writeFileAtomicSync(join(out, PLAN), `${JSON.stringify(plan, null, 2)}\n`);
  }

  const results: { spec: string; dir: string; config: TrainConfig; result: TrainResult }[] = [];
  const interrupt = interruptSignal();
  try {
    for (const { spec, dir: name, config } of plan.runs) {
      const dir = join(out, name);
      const step = checkpointStep(dir);
      if (step !== undefined && step >= config.steps) {
        process.stderr.write(`== ${spec}: finished in ${dir} (kept)\n`);
        results.push({ spec, dir, config, result: finishedResult(dir, step) });
        continue;
      }
      const resume = step !== undefined;
      process.stderr.write(`== ${spec} → ${dir}${resume ? ` (resuming at step ${step})` : ""}\n`);
      const result = await train({
        config,
        out: dir,
        resume,
        quiet: Boolean(opts.quiet),
        signal: interrupt.signal,
        name: spec,
      });
      results.push({ spec, dir, config, result });
      if (result.interrupted) break;
    }
  } finally {
    interrupt.dispose();
  }
  await writeReport(
    join(out, "report.html"),
    results.map(({ spec, dir, config }) => ({
      name: spec,
      config: { ...config },
      metrics: readMetrics(join(dir, "metrics.jsonl")),
    })),
    { title: `Rankwise comparison: ${results.map((r) => r.spec).join(" vs ")}` },
  );
  const rows = results.map(({ spec, result }) =>
    [
      spec,
      result.trainLoss.toFixed(4),
      result.valLoss.toFixed(4),
      String(result.stateBytes),
      result.elapsed.toFixed(1),
    ].join(" | "),
  );
  process.stdout.write(
    [
      "optimizer | train loss | val loss | state bytes | seconds",
      "--- | --- | --- | --- | ---",
      ...rows,
      "",
    ].join("\n"),
  );
  process.stdout.write(`report: ${join(out, "report.html")}\n`);
  if (results.some((r) => r.result.interrupted)) {
    process.stdout.write(`interrupted; continue with: rankwise compare --resume ${out}\n`);
    process.exitCode = 130;
  }
}
