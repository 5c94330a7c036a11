/**
 * The corpus side that `eval` and `data-scores` share: their numeric flags checked with train's
 * messages, --data (a run folder's own corpus by default) read as text, and that text tokenised
 * with the opened model's tokenizer and split the trainer's way (splitTokens, --val-fraction)
 * once --seq-len is known to fit the model's context. Every refusal is a UsageError naming the
 * flag.
 */
import { loadCorpus } from "../data/corpus.js";
import { splitTokens } from "../data/split.js";
import { UsageError } from "../engine/errors.js";
import type { OpenedModel } from "../nn/open-model.js";
import { type TrainConfig, validateConfig } from "../train/config.js";

type Flags = Record<string, string | boolean | undefined>;

/** The given ones of `keys` (camelCase flags named as in TrainConfig), checked as train does. */
export function numericFlags(
  opts: Flags,
  keys: readonly (keyof TrainConfig)[],
): Partial<TrainConfig> {
  const set = Object.fromEntries(
    keys.filter((k) => opts[k] !== undefined).map((k) => [k, opts[k]]),
  );
  const checked = validateConfig(set);
  return Object.fromEntries(
    Object.keys(set).map((k) => [k, checked[k as keyof TrainConfig]]),
  ) as Partial<TrainConfig>;
}

/** --data, else the run folder's own corpus; required otherwise. */
export function dataFlag(opts: Flags, run: TrainConfig | undefined): string {
  const dataName = (opts.data as string | undefined) ?? run?.data;
  if (dataName === undefined) {
    throw new UsageError(
      "--data is required for a model folder or Hub id: a corpus name (moby-dick, sotu) or a UTF-8 text file",
    );
  }
  return dataName;
}

/** The text of corpus `dataName` (a built-in name or a UTF-8 file). */
export function dataText(dataName: string): string {
  try {
    return loadCorpus(dataName).text;
  } catch (error) {
    throw new UsageError(`--data: ${(error as Error).message.replace(/^corpus: /, "")}`);
  }
}

/** `text` in the model's tokens, split into the trainer's training and validation parts. */
export function modelSplit(
  opened: OpenedModel,
  dataName: string,
  text: string,
  { seqLen, valFraction }: { seqLen: number; valFraction: number },
): { train: Int32Array; val: Int32Array } {
  const maxPos = opened.config.max_position_embeddings;
  if (seqLen > maxPos) {
    throw new UsageError(
      `--seq-len ${seqLen} is longer than the model's context (max_position_embeddings ${maxPos})`,
    );
  }
  let tokens: Int32Array;
  try {
    tokens = opened.tokenizer.encode(text);
  } catch (error) {
    throw new UsageError(
      `--data ${dataName} does not fit the model's tokenizer: ${(error as Error).message.replace(/^encode: /, "")}`,
    );
  }
  try {
    return splitTokens(tokens, { valFraction });
  } catch (error) {
    throw new UsageError(`--data ${dataName}: ${(error as Error).message}`);
  }
}
