/**
 * A small Hugging Face LLaMA folder written from Node with the library, laid out as the Hub's
 * sharded checkpoints are: config.json (toHfConfig), two safetensors shards with
 * model.safetensors.index.json, and a GPT-2-style byte-level BPE tokenizer.json (all 256 byte
 * symbols and a few merges, so any text encodes), as SmolLM's folder holds.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BYTE_CHARS } from "../../src/data/tokenizer-hf-json.js";
import * as tree from "../../src/engine/tree.js";
import { encodeSafetensors } from "../../src/io/safetensors.js";
import { initLlama } from "../../src/nn/llama.js";
import { llamaPreset, toHfConfig } from "../../src/nn/llama-config.js";
import { bpeTokenizerJson } from "../helpers/bpe-json.js";

const MERGES = ["Ġ t", "h e", "Ġ a", "Ġt he", "i n", "Ġ w", "Ġ s", "Ġ o"];

/** The tokenizer.json: byte-level BPE (vocabulary: 256 bytes, then one token per merge). */
export function byteBpeTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  BYTE_CHARS.forEach((c, i) => {
    vocab[c] = i;
  });
  for (const m of MERGES) vocab[m.replace(" ", "")] = Object.keys(vocab).length;
  return bpeTokenizerJson({ vocab, merges: MERGES, byteLevel: true });
}

/** Write the folder into `dir` (tiny preset, seed 5); returns the config's vocabulary size. */
export function writeHfFolder(dir: string): { vocab: number } {
  mkdirSync(dir, { recursive: true });
  const vocab = 256 + MERGES.length;
  const config = llamaPreset("tiny", vocab, { max_position_embeddings: 64 });
  const params = initLlama(config, 5);
  const names = Object.keys(params);
  const half = Math.ceil(names.length / 2);
  const shards = [names.slice(0, half), names.slice(half)];
  const weightMap: Record<string, string> = {};
  shards.forEach((keys, i) => {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    const part = Object.fromEntries(keys.map((k) => [k, params[k]]));
    writeFileSync(join(dir, file), encodeSafetensors(part, { format: "pt" }));
    for (const k of keys) weightMap[k] = file;
  });
  tree.dispose(params);
  const json = (x: unknown) => `${JSON.stringify(x, null, 2)}\n`;
  writeFileSync(
    join(dir, "model.safetensors.index.json"),
    json({ metadata: {}, weight_map: weightMap }),
  );
  writeFileSync(join(dir, "config.json"), json(toHfConfig(config)));
  writeFileSync(join(dir, "tokenizer.json"), json(byteBpeTokenizerJson()));
  return { vocab };
}
