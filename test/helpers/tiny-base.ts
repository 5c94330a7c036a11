/**
 * The small training setup the trainer and adapter tests share: 4000 characters of Moby Dick as a
 * corpus file, a tiny LLaMA (seed 7, char tokenizer of that text) saved as a model folder, and
 * the run settings of a short quiet run (no warm-up, evaluation, checkpoint or sample; a log row
 * every step) that tests spread under what they vary.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadCorpus } from "../../src/data/corpus.js";
import { CharTokenizer } from "../../src/data/tokenizer.js";
import { tokenizerFileText } from "../../src/data/tokenizer-file.js";
import * as tree from "../../src/engine/tree.js";
import { initLlama } from "../../src/nn/llama.js";
import { llamaPreset } from "../../src/nn/llama-config.js";
import { saveModel } from "../../src/nn/pretrained.js";

/** Settings of a short quiet run on 16-token windows, two rows a batch. */
export const TINY_RUN = {
  seqLen: 16,
  batchSize: 2,
  warmup: 0,
  evalEvery: 0,
  evalBatches: 1,
  checkpointEvery: 0,
  logEvery: 1,
  sampleLength: 0,
} as const;

/** Write `dir/corpus.txt` (the first `chars` characters of Moby Dick); returns path and text. */
export function writeTinyCorpus(dir: string, chars = 4000): { corpus: string; text: string } {
  const corpus = join(dir, "corpus.txt");
  const text = loadCorpus("moby-dick").text.slice(0, chars);
  writeFileSync(corpus, text);
  return { corpus, text };
}

/** Write `dir/corpus.txt` and the model folder `dir/base`; returns their paths. */
export async function writeTinyBase(
  dir: string,
  chars = 4000,
): Promise<{ corpus: string; baseDir: string }> {
  const { corpus, text } = writeTinyCorpus(dir, chars);
  const baseDir = join(dir, "base");
  const tokenizer = CharTokenizer.fromText(text);
  const config = llamaPreset("tiny", tokenizer.vocabSize, { max_position_embeddings: 64 });
  const params = initLlama(config, 7);
  await saveModel(baseDir, { config, params });
  tree.dispose(params);
  writeFileSync(join(baseDir, "tokenizer.json"), tokenizerFileText(tokenizer));
  return { corpus, baseDir };
}
