/**
 * Ending a run: a final evaluation (unless interrupted), the last checkpoint, a sample of text,
 * and the report. Returns what `train` reports to its caller.
 */
import { join } from "node:path";
import * as tree from "../engine/tree.js";
import { writeReport } from "../report/index.js";
import type { TrainConfig } from "./config.js";
import { sampleText } from "./generate.js";
import { MetricsLog } from "./metrics.js";
import type { Run, TrainResult } from "./run.js";
import { checkpointRun } from "./run-checkpoint.js";
import { evaluateRun } from "./run-eval.js";

export async function finishRun(run: Run, interrupted: boolean): Promise<TrainResult> {
  const { config } = run;
  run.progress.end();
  if (!interrupted) await evaluateRun(run);
  await checkpointRun(run);
  let sample = "";
  if (!interrupted && config.sampleLength > 0) {
    sample = sampleText(run.params, run.modelConfig, run.data.tokenizer, {
      length: config.sampleLength,
      temperature: config.temperature,
      topK: config.topK,
      seed: config.seed,
      window: config.seqLen,
    });
    run.metrics.append({ type: "sample", step: run.step, text: sample });
  }
  await writeRunReport(run.out, run.name, config);
  return {
    out: run.out,
    step: run.step,
    trainLoss: run.trainLoss,
    valLoss: run.valLoss,
    sample,
    interrupted,
    stateBytes: tree.stateBytes(run.optState),
    elapsed: run.seconds(),
  };
}

/** report.html for one run directory (from its metrics.jsonl). */
export async function writeRunReport(
  out: string,
  name: string,
  config: TrainConfig,
): Promise<void> {
  const rows = new MetricsLog(join(out, "metrics.jsonl")).read();
  await writeReport(join(out, "report.html"), [{ name, config: { ...config }, metrics: rows }], {
    title: `Rankwise run: ${name}`,
  });
}
