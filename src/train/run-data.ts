/** The run's data: corpus → tokenizer → train/validation split, and the validation loss. */
import type { numpy as np } from "@jax-js/jax";
import { loadCorpus } from "../data/corpus.js";
import { validationBatches } from "../data/sampler.js";
import { splitTokens } from "../data/split.js";
import { buildTokenizer, type Tokenizer, tokenizerFromJSON } from "../data/tokenizer.js";
import * as tree from "../engine/tree.js";
import type { LlamaParams } from "../nn/llama.js";
import { type TrainConfig, UsageError } from "./config.js";

/** Read a scalar array (consumed) without blocking the thread pool. */
export const scalar = async (a: np.Array) => (await a.data())[0];

export interface Data {
  tokenizer: Tokenizer;
  train: Int32Array;
  val: Int32Array;
  /** Validation tokens per character (1 for char tokenizers). */
  tokensPerChar: number;
}

/**
 * `tokenizerJson`: a saved tokenizer to encode with (a resumed run's, or a base model's for
 * fine-tuning — then `owner` names it in the one-line error for text it cannot encode).
 */
export function loadData(
  config: TrainConfig,
  tokenizerJson?: unknown,
  owner: "run" | "base" = "run",
): Data {
  let corpus: ReturnType<typeof loadCorpus>;
  try {
    corpus = loadCorpus(config.data);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const tokenizer = tokenizerJson
    ? tokenizerFromJSON(tokenizerJson)
    : buildTokenizer(config.tokenizer, corpus.text);
  let tokens: Int32Array;
  try {
    tokens = tokenizer.encode(corpus.text);
  } catch (error) {
    // Only a saved tokenizer can miss a character: a resumed run's (the corpus changed since)
    // or a base model's (a char vocabulary built from another corpus).
    const why = (error as Error).message.replace(/^encode: /, "");
    throw new UsageError(
      owner === "run"
        ? `corpus ${config.data} no longer fits the run's tokenizer (was it changed?): ${why}`
        : `corpus ${config.data} has text the base model's tokenizer cannot encode: ${why}; fine-tune a base with a byte or BPE tokenizer (train it with --tokenizer byte)`,
    );
  }
  const { train, val } = splitTokens(tokens, { valFraction: config.valFraction });
  const need = config.seqLen + 1;
  if (train.length < need || val.length < need) {
    throw new UsageError(
      `corpus ${config.data} is too small for --seq-len ${config.seqLen} (train ${train.length}, validation ${val.length} tokens)`,
    );
  }
  const valChars = tokenizer.decode(val).length;
  return { tokenizer, train, val, tokensPerChar: val.length / valChars };
}

/** Mean validation loss over the fixed evaluation windows. */
export async function evaluate(
  lossFn: (p: LlamaParams, x: np.Array, y: np.Array) => np.Array,
  params: LlamaParams,
  data: Data,
  config: TrainConfig,
): Promise<number> {
  let total = 0;
  let rows = 0;
  for (const batch of validationBatches(data.val, {
    batchSize: config.batchSize,
    seqLen: config.seqLen,
    maxBatches: config.evalBatches,
  })) {
    if (batch.starts.length !== config.batchSize) {
      batch.inputs.dispose();
      batch.targets.dispose();
      continue; // a ragged last batch would compile another program; skip it
    }
    total +=
      (await scalar(lossFn(tree.share(params), batch.inputs, batch.targets))) * config.batchSize;
    rows += config.batchSize;
  }
  return rows > 0 ? total / rows : Number.NaN;
}
