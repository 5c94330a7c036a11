/**
 * Ending a run: a final evaluation (unless interrupted), the last checkpoint, a sample of text,
 * and the report. Returns what `train` reports to its caller.
 *
 * The sample continues a real prompt: the first tokens of the validation text (up to half a
 * training window, at most 32), so it shows what the model does with text it has not trained on.
 */
import * as tree from "../engine/tree.js";
import { sampleText } from "./generate.js";
import type { Run, TrainResult } from "./run.js";
import { checkpointRun } from "./run-checkpoint.js";
import { evaluateRun } from "./run-eval.js";
import { writeRunReport } from "./run-report.js";

/** The sample's prompt: the start of the validation text. */
export function samplePrompt(run: Run): string {
  const length = Math.max(1, Math.min(32, Math.floor(run.config.seqLen / 2)));
  return run.data.tokenizer.decode(run.data.val.subarray(0, length));
}

export async function finishRun(run: Run, interrupted: boolean): Promise<TrainResult> {
  const { config } = run;
  run.progress.end();
  if (!interrupted) await evaluateRun(run);
  await checkpointRun(run, { report: false });
  let sample = "";
  let prompt = "";
  if (!interrupted && config.sampleLength > 0) {
    prompt = samplePrompt(run);
    const model = run.adapted ? run.adapted.modelParams(run) : run.params;
    try {
      sample = sampleText(model, run.modelConfig, run.data.tokenizer, {
        prompt,
        length: config.sampleLength,
        temperature: config.temperature,
        topK: config.topK,
        seed: config.seed,
        window: config.seqLen,
      });
    } finally {
      if (run.adapted) tree.dispose(model);
    }
    run.metrics.append({ type: "sample", step: run.step, prompt, text: sample });
  }
  await writeRunReport(run.out, run.name, config);
  return {
    out: run.out,
    step: run.step,
    trainLoss: run.trainLoss,
    valLoss: run.valLoss,
    sample,
    prompt,
    bitsPerChar: (run.valLoss / Math.LN2) * run.data.tokensPerChar,
    interrupted,
    stateBytes: tree.stateBytes(run.optState),
    elapsed: run.seconds(),
  };
}
