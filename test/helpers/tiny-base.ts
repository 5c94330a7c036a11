/**
 * The small fine-tuning setup the adapter-type tests share: 4000 characters of Moby Dick as a
 * corpus file, and a tiny LLaMA (seed 7, char tokenizer of that text) saved as a model folder.
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

/** Write `dir/corpus.txt` and the model folder `dir/base`; returns their paths. */
export async function writeTinyBase(dir: string): Promise<{ corpus: string; baseDir: string }> {
  const corpus = join(dir, "corpus.txt");
  const text = loadCorpus("moby-dick").text.slice(0, 4000);
  writeFileSync(corpus, text);
  const baseDir = join(dir, "base");
  const tokenizer = CharTokenizer.fromText(text);
  const config = llamaPreset("tiny", tokenizer.vocabSize, { max_position_embeddings: 64 });
  const params = initLlama(config, 7);
  await saveModel(baseDir, { config, params });
  tree.dispose(params);
  writeFileSync(join(baseDir, "tokenizer.json"), tokenizerFileText(tokenizer));
  return { corpus, baseDir };
}
