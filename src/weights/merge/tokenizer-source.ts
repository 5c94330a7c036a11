/**
 * `tokenizer_source: base` or `tokenizer_source: <model>` (mergekit's tokenizer/build.py and
 * tokenizer/embed.py, read not copied): the output vocabulary is that model's tokenizer, and every
 * model's embed_tokens and lm_head rows are re-indexed to it before merging, by the same rule and
 * code as the union (tokenizer-union.ts applyVocabulary): a model that has the token keeps its
 * row; one that lacks it takes the row of the only model that has it, else the explicit base's,
 * else the mean of the models that have it, else zeros (a source outside the merge may hold
 * tokens no merged model has). vocab_size becomes the tokenizer's size, so rows past it (padding)
 * are dropped. Without tokenizer_source nothing is re-indexed (mergekit's default too).
 *
 * A model without tokenizer.json is taken to share the base model's vocabulary (base_model, else
 * the first model), as mergekit assumes, or the tokenizer source's when the base has none either
 * (mergekit fails there; here tokenizer_source then says what the bare models' ids mean, e.g. for
 * calibration text). A model's ids at or past its vocab_size are not its tokens. When every model's vocabulary already is the output one, id for id with no extra rows,
 * nothing is wrapped: the merge is the row-by-row one, bit for bit.
 *
 * Deviations: mergekit strips the base's tokenizer of ids past its vocab_size; here a source
 * tokenizer with such ids, or with gaps in its ids, is refused with one line, since its file is
 * written out whole.
 */
import { TOKENIZER_FILE } from "../../data/tokenizer-file.js";
import { UsageError } from "../../engine/errors.js";
import type { MergeConfig } from "./config.js";
import type { ModelSource } from "./sources.js";
import { applyVocabulary, type ModelVocab, readVocab } from "./tokenizer-union.js";

const hasTokenizer = (s: ModelSource) => s.tokenizerFiles()?.[TOKENIZER_FILE] !== undefined;

/** Re-index every source to `tokRef`'s vocabulary (see the file header); `tokRef` is in `sources`. */
export function applyTokenizerSource(
  config: MergeConfig,
  sources: Map<string, ModelSource>,
  tokRef: string,
): void {
  const label = `tokenizer_source "${config.tokenizerSource}"`;
  const source = sources.get(tokRef)!;
  if (!hasTokenizer(source)) {
    throw new UsageError(
      `${label}: model ${tokRef} has no ${TOKENIZER_FILE} to take the vocabulary from; name a model that has one`,
    );
  }
  const target = readVocab(source, label);
  if (target.beyond) {
    throw new UsageError(
      `${label}: model ${tokRef}'s ${TOKENIZER_FILE} has ids past its vocab_size (${source.config.vocab_size}): they do not belong together`,
    );
  }
  // An added token may also be in the model's vocab at the same id (LLaMA's <s>): listed once.
  const tokens = [
    ...target.regular,
    ...target.added.map(([t, id]) => [t.content as string, id] as [string, number]),
  ]
    .sort((a, b) => a[1] - b[1])
    .filter(([token, id], k, all) => k === 0 || all[k - 1]![0] !== token || all[k - 1]![1] !== id);
  tokens.forEach(([, id], k) => {
    if (id !== k) {
      throw new UsageError(
        `${label}: model ${tokRef}'s vocabulary has a gap at id ${k}; re-indexing needs ids 0..n-1`,
      );
    }
  });
  const baseRef = config.baseModel ?? config.slices[0]!.sources[0]!.model;
  const base = sources.get(baseRef)!;
  // Whose vocabulary a model without a tokenizer has: the base's, else the source's.
  const shared = baseRef === tokRef || !hasTokenizer(base) ? target : readVocab(base, label);
  const index = new Map<string, Int32Array>();
  let identity = true;
  for (const [ref, s] of sources) {
    const vocab: ModelVocab =
      ref === tokRef ? target : hasTokenizer(s) ? readVocab(s, label) : shared;
    // This model's ids (the base's vocabulary borrowed is cut at this model's vocab_size).
    const limit = s.config.vocab_size;
    const ids = new Map<string, number>();
    for (const [token, id] of vocab.regular) if (id < limit) ids.set(token, id);
    for (const [entry, id] of vocab.added) if (id < limit) ids.set(entry.content, id);
    const at = Int32Array.from(tokens, ([token]) => ids.get(token) ?? -1);
    index.set(ref, at);
    if (limit !== tokens.length || at.some((id, j) => id !== j)) identity = false;
  }
  if (identity) return;
  applyVocabulary(config, sources, {
    size: tokens.length,
    files: source.tokenizerFiles()!,
    index,
  });
}
