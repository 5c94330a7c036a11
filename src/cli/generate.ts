/**
 * `rankwise generate <model|run|hub-id>`: sample text from any model Rankwise opens (a run's
 * checkpoint, a model folder, a Hub id; see nn/open-model.ts), optionally with a PEFT adapter
 * merged in (--adapter) or another tokenizer (--tokenizer byte|<tokenizer.json>). The text is
 * written to stdout as each token is sampled: byte tokens are decoded as a stream (a character
 * split across byte tokens comes out whole), and HF tokenizers' text is written as it stops
 * changing (the decoded tail is held while it ends in an incomplete character). `--length` is
 * capped at MAX_LENGTH tokens: a typo such as 1e9 is refused at once instead of running for days.
 * The context window is the run's --seq-len, else the model's max_position_embeddings.
 */
import type { Tokenizer } from "../data/tokenizer.js";
import * as tree from "../engine/tree.js";
import { stderrProgress } from "../io/hub.js";
import { applyAdapter, openModel } from "../nn/open-model.js";
import { type TrainConfig, UsageError, validateConfig } from "../train/config.js";
import { sampleText } from "../train/generate.js";

/** Largest --length accepted (tokens). */
export const MAX_LENGTH = 100_000;

/** A writer of sampled tokens as text after `prompt`: push each id, then finish (what is left). */
export function textStream(
  tokenizer: Tokenizer,
  prompt: Int32Array,
): { push(id: number): string; finish(): string } {
  if (tokenizer.type === "byte") {
    const bytes = new TextDecoder("utf-8");
    return {
      push: (id) => bytes.decode(Uint8Array.of(id), { stream: true }),
      finish: () => bytes.decode(),
    };
  }
  if (tokenizer.type === "char") return { push: (id) => tokenizer.decode([id]), finish: () => "" };
  // Decoders join tokens (spaces, byte-level pieces, a word's leading "▁"): decode the prompt and
  // the tokens so far as one text and write what is new beyond the prompt's own text.
  const ids: number[] = Array.from(prompt);
  let written = tokenizer.decode(ids);
  const fresh = (all: string) => {
    const out = all.startsWith(written) ? all.slice(written.length) : "";
    written = all;
    return out;
  };
  return {
    push: (id) => {
      ids.push(id);
      const all = tokenizer.decode(ids);
      return all.endsWith("\uFFFD") ? "" : fresh(all);
    },
    finish: () => fresh(tokenizer.decode(ids)),
  };
}

export async function generateCommand(
  spec: string,
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
  const opened = await openModel(spec, {
    tokenizer: opts.tokenizer,
    onProgress: stderrProgress(),
    keepLowRank: opts.adapter === undefined, // factored layers run as factors; adapters need W
  });
  const params =
    opts.adapter !== undefined ? await applyAdapter(opened.params, opts.adapter) : opened.params;
  try {
    const { tokenizer } = opened;
    let promptIds: Int32Array;
    try {
      promptIds = tokenizer.encode(prompt);
    } catch (error) {
      throw new UsageError(`--prompt: ${(error as Error).message.replace(/^encode: /, "")}`);
    }
    const text = textStream(tokenizer, promptIds);
    process.stdout.write(prompt);
    sampleText(params, opened.config, tokenizer, {
      prompt,
      length: checked.sampleLength,
      temperature: checked.temperature,
      topK: checked.topK,
      seed: checked.seed,
      window: opened.trainer?.config.seqLen,
      onToken: (id) => process.stdout.write(text.push(id)),
    });
    process.stdout.write(`${text.finish()}\n`);
  } finally {
    tree.dispose(params);
  }
}
