/** `rankwise compare`: several optimizers, same model, data, seed and steps; one report. */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { writeReport } from "../report/index.js";
import { UsageError, validateConfig } from "../train/config.js";
import { readMetrics } from "../train/metrics.js";
import { train } from "../train/trainer.js";
import { interruptSignal, timestamp } from "./train.js";
import { configFromFlags } from "./train-flags.js";

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

export async function compareCommand(opts: Record<string, unknown>): Promise<void> {
  const base = configFromFlags(opts);
  const specs = (opts.optimizers as string[]).flatMap((s) => s.split(/\s+/)).filter(Boolean);
  if (specs.length === 0) throw new UsageError("--optimizers needs at least one optimizer");
  // Validate every configuration before training anything.
  const runs = specs.map((spec) => {
    const { name, options } = parseSpec(spec);
    const config = validateConfig({
      ...base,
      optimizer: name,
      optimizerOptions: { ...(base.optimizerOptions as object), ...options },
    });
    return { spec, config };
  });
  const out = String(opts.out ?? join("runs", `compare-${timestamp()}`));
  mkdirSync(out, { recursive: true });
  const results = [];
  const interrupt = interruptSignal();
  try {
    for (const { spec, config } of runs) {
      const dir = join(out, spec.replace(/[^\w.=-]+/g, "_"));
      process.stderr.write(`== ${spec} → ${dir}\n`);
      const result = await train({
        config,
        out: dir,
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
  if (results.some((r) => r.result.interrupted)) process.exitCode = 130;
}
