/**
 * `rankwise generate`: sample text from a run's checkpoint. The text is written to stdout as each
 * token is sampled (bytes are decoded as a stream, so a character split across byte tokens comes
 * out whole). `--length` is capped at MAX_LENGTH tokens: a typo such as 1e9 is refused at once
 * instead of running for days.
 */
import { tokenizerFromJSON } from "../data/tokenizer.js";
import * as tree from "../engine/tree.js";
import { loadCheckpoint } from "../train/checkpoint.js";
import { type TrainConfig, UsageError, validateConfig } from "../train/config.js";
import { sampleText } from "../train/generate.js";

/** Largest --length accepted (tokens). */
export const MAX_LENGTH = 100_000;

export async function generateCommand(
  run: string,
  opts: Record<string, string | undefined>,
): Promise<void> {
  const prompt = opts.prompt ?? "";
  // Reuse the config validator for the numeric flags' messages (its --sample-length is --length here).
  let checked: TrainConfig;
  try {
    const given = {
      sampleLength: opts.length,
      temperature: opts.temperature,
      topK: opts.topK,
      seed: opts.seed,
    };
    // Flags not given take DEFAULT_CONFIG's values (as `--help` shows).
    checked = validateConfig(
      Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)),
    );
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    throw new UsageError(error.message.replace("--sample-length", "--length"));
  }
  if (checked.sampleLength > MAX_LENGTH) {
    throw new UsageError(
      `--length must be an integer from 0 to ${MAX_LENGTH}, got "${opts.length}"`,
    );
  }
  const ck = await loadCheckpoint(run);
  try {
    const tokenizer = tokenizerFromJSON(ck.meta.tokenizer);
    try {
      tokenizer.encode(prompt);
    } catch (error) {
      throw new UsageError(`--prompt: ${(error as Error).message.replace(/^encode: /, "")}`);
    }
    const bytes = ck.meta.tokenizer.type === "byte" ? new TextDecoder("utf-8") : undefined;
    const decode = (id: number) =>
      bytes ? bytes.decode(Uint8Array.of(id), { stream: true }) : tokenizer.decode([id]);
    process.stdout.write(prompt);
    sampleText(ck.params, ck.modelConfig, tokenizer, {
      prompt,
      length: checked.sampleLength,
      temperature: checked.temperature,
      topK: checked.topK,
      seed: checked.seed,
      window: ck.meta.config.seqLen,
      onToken: (id) => process.stdout.write(decode(id)),
    });
    process.stdout.write(`${bytes ? bytes.decode() : ""}\n`);
  } finally {
    tree.dispose(ck.params);
    tree.dispose(ck.optState);
  }
}
