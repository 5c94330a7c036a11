/** `rankwise generate`: sample text from a run's checkpoint. */
import { tokenizerFromJSON } from "../data/tokenizer.js";
import * as tree from "../engine/tree.js";
import { loadCheckpoint } from "../train/checkpoint.js";
import { type TrainConfig, UsageError, validateConfig } from "../train/config.js";
import { sampleText } from "../train/generate.js";

export async function generateCommand(run: string, opts: Record<string, string>): Promise<void> {
  // Reuse the config validator for the numeric flags' messages (its --sample-length is --length here).
  let checked: TrainConfig;
  try {
    checked = validateConfig({
      sampleLength: opts.length,
      temperature: opts.temperature,
      topK: opts.topK,
      seed: opts.seed,
    });
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    throw new UsageError(error.message.replace("--sample-length", "--length"));
  }
  const ck = await loadCheckpoint(run);
  try {
    const text = sampleText(ck.params, ck.modelConfig, tokenizerFromJSON(ck.meta.tokenizer), {
      prompt: opts.prompt,
      length: checked.sampleLength,
      temperature: checked.temperature,
      topK: checked.topK,
      seed: checked.seed,
      window: ck.meta.config.seqLen,
    });
    process.stdout.write(`${opts.prompt}${text}\n`);
  } finally {
    tree.dispose(ck.params);
    tree.dispose(ck.optState);
  }
}
