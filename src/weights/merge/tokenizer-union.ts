/**
 * `tokenizer_source: union` (mergekit's tokenizer/build.py and tokenizer/embed.py, read not
 * copied): the merged model's vocabulary is the union of the models' vocabularies, and each
 * model's embed_tokens and lm_head rows are re-indexed to it before merging. The re-indexing
 * (reindexRows, applyVocabulary) is shared with `tokenizer_source: base | <model>`
 * (tokenizer-source.ts), whose vocabulary is one model's instead of the union.
 *
 * Vocabulary: the base model's (base_model, else the first model) with its ids, then every token
 * the other models have and it lacks, appended in model order (base first, then as the config
 * lists them) and, within a model, in id order; added tokens (special tokens) of the others after
 * the regular ones, keeping their flags. Tokens a model has at ids ≥ its vocab_size are ignored,
 * as mergekit does. The output vocab_size is the union's size.
 *
 * Rows (per re-indexed tensor, over the models merged into it and the base): a model that has the
 * token keeps its own row. For one that lacks it the row is: the only model's that has it, if one
 * does; the base model's (an explicit base_model), if it has it; else the mean of the rows of the
 * models that have it; zeros if none has it (cannot happen here: the union holds only their
 * tokens).
 *
 * Files: if every model has a Rankwise char vocabulary the union is a char vocabulary too (the
 * new characters appended), written as tokenizer.json. Otherwise every tokenizer.json must be a
 * BPE or WordPiece model (Rankwise's byte and char files are BPE): the base's file with the new
 * tokens appended as added tokens (non-special, normalized), which is what mergekit's
 * `add_tokens` writes; the base's tokenizer_config.json is kept. Any other tokenizer (Unigram,
 * none) is refused with one line.
 *
 * Deviation: mergekit orders the appended tokens by Python dict order of `get_vocab()`; here by
 * id, so that the output is deterministic. Its char case has no equivalent (it always adds HF
 * added tokens); here a char union stays a char tokenizer.
 */
import { numpy as np } from "@jax-js/jax";
import { CharTokenizer } from "../../data/tokenizer.js";
import {
  TOKENIZER_FILE,
  tokenizerFileText,
  tokenizerFromFileJson,
} from "../../data/tokenizer-file.js";
import { charByteFromHfJson } from "../../data/tokenizer-hf-json.js";
import { UsageError } from "../../engine/errors.js";
import type { MergeConfig } from "./config.js";
import type { ModelSource } from "./sources.js";

/** The names of the tensors whose rows are the vocabulary. */
export const VOCAB_TENSORS = ["model.embed_tokens.weight", "lm_head.weight"];

type Json = Record<string, any>;

/** One model's vocabulary: its tokens by id (regular ones, then added ones). */
export interface ModelVocab {
  ref: string;
  /** Rankwise char vocabulary (token = one character), if that is what the model has. */
  chars?: readonly string[];
  /** The parsed tokenizer.json (non-char models, and char ones when the union is not all char). */
  json: Json;
  regular: [string, number][];
  /** Whether the tokenizer has ids at or past the model's vocab_size (left out above). */
  beyond: boolean;
  added: [Json, number][];
  files: Record<string, string>;
}

/**
 * The output vocabulary (the union's, or tokenizer_source's: tokenizer-source.ts) and, per model,
 * where each of its tokens is.
 */
export interface TokenizerUnion {
  size: number;
  /** The output tokenizer files (tokenizer.json, and the base's tokenizer_config.json if any). */
  files: Record<string, string>;
  /** Per model reference: for each union id, the model's id of that token, or −1. */
  index: Map<string, Int32Array>;
}

/**
 * One model's vocabulary (ids ≥ its vocab_size left out). `label` starts the error lines (e.g.
 * `tokenizer_source "union"`).
 */
export function readVocab(source: ModelSource, label = 'tokenizer_source "union"'): ModelVocab {
  const where = `${label}: model ${source.ref}`;
  const files = source.tokenizerFiles();
  const text = files?.[TOKENIZER_FILE];
  if (files === undefined || text === undefined) {
    throw new UsageError(`${where} has no ${TOKENIZER_FILE}; union needs every model's tokenizer`);
  }
  const json = JSON.parse(text) as Json;
  const limit = source.config.vocab_size;
  const own = charByteFromHfJson(json);
  if (own instanceof CharTokenizer) {
    const regular = own.vocab.map((ch, id) => [ch, id] as [string, number]);
    return {
      ref: source.ref,
      chars: own.vocab,
      json,
      regular: regular.filter(([, id]) => id < limit),
      added: [],
      beyond: own.vocab.length > limit,
      files,
    };
  }
  const type = json.model?.type;
  // Union writes new tokens into the base's file (BPE, WordPiece); re-indexing only lists them.
  const union = label.includes('"union"');
  const types = union ? ["BPE", "WordPiece"] : ["BPE", "WordPiece", "Unigram"];
  if (!types.includes(type)) {
    throw new UsageError(
      `${where} has a ${type ?? "unknown"} tokenizer.json; ${union ? "union" : "re-indexing"} accepts ${types.slice(0, -1).join(", ")} and ${types.at(-1)} tokenizer.json files and Rankwise char vocabularies`,
    );
  }
  // Unigram's vocab is a list of [piece, score], the id being the position.
  const all: [string, number][] = Array.isArray(json.model.vocab)
    ? (json.model.vocab as [string, number][]).map(([piece], id) => [piece, id])
    : Object.entries(json.model.vocab ?? {});
  const regular = all.filter(([, id]) => id < limit).sort((a, b) => a[1] - b[1]);
  const added = ((json.added_tokens ?? []) as Json[])
    .filter((t) => t.id < limit)
    .map((t) => [t, t.id] as [Json, number]);
  const beyond = regular.length + added.length < all.length + (json.added_tokens ?? []).length;
  return { ref: source.ref, json, regular, added, beyond, files };
}

/** The union vocabulary of `refs` (the first is the base). */
export function buildTokenizerUnion(
  refs: string[],
  sources: Map<string, ModelSource>,
): TokenizerUnion {
  const vocabs = refs.map((ref) => readVocab(sources.get(ref)!));
  const base = vocabs[0]!;
  const ids = new Map<string, number>();
  const add = (token: string) => {
    if (!ids.has(token)) ids.set(token, ids.size);
  };
  let files: Record<string, string>;
  if (vocabs.every((v) => v.chars !== undefined)) {
    for (const v of vocabs) for (const [token] of v.regular) add(token);
    files = { [TOKENIZER_FILE]: tokenizerFileText(new CharTokenizer([...ids.keys()])) };
  } else {
    // The base's file is kept whole, so its ids must all be rows of the model.
    if (base.beyond) {
      throw new UsageError(
        `tokenizer_source "union": the base model ${base.ref}'s tokenizer.json has ids past its vocab_size (${sources.get(base.ref)!.config.vocab_size}): they do not belong together`,
      );
    }
    // The base's own ids first (regular and added), then the others' new tokens.
    const baseTokens = [
      ...base.regular,
      ...base.added.map(([t, id]) => [t.content, id] as [string, number]),
    ];
    baseTokens.sort((a, b) => a[1] - b[1]);
    for (const [token, id] of baseTokens) {
      if (id !== ids.size && !ids.has(token)) {
        throw new UsageError(
          `tokenizer_source "union": the base model ${base.ref}'s vocabulary has a gap at id ${ids.size}; union needs ids 0..n-1`,
        );
      }
      add(token);
    }
    const json = structuredClone(base.json);
    json.added_tokens ??= [];
    const addedTokens: Json[] = json.added_tokens;
    const append = (entry: Json) => {
      add(entry.content);
      addedTokens.push({ ...entry, id: ids.get(entry.content) });
    };
    for (const v of vocabs.slice(1)) {
      for (const [token] of v.regular) {
        if (!ids.has(token)) {
          append({
            content: token,
            single_word: false,
            lstrip: false,
            rstrip: false,
            normalized: true,
            special: false,
          });
        }
      }
    }
    for (const v of vocabs.slice(1))
      for (const [entry] of v.added) if (!ids.has(entry.content)) append(entry);
    try {
      tokenizerFromFileJson(json);
    } catch (error) {
      throw new UsageError(
        `tokenizer_source "union": the union tokenizer does not load: ${(error as Error).message.split("\n")[0]}`,
      );
    }
    files = { ...base.files, [TOKENIZER_FILE]: `${JSON.stringify(json, null, 2)}\n` };
  }
  const index = new Map<string, Int32Array>();
  for (const v of vocabs) {
    const at = new Int32Array(ids.size).fill(-1);
    for (const [token, id] of v.regular) at[ids.get(token)!] = id;
    for (const [entry, id] of v.added) at[ids.get(entry.content)!] = id;
    index.set(v.ref, at);
  }
  return { size: ids.size, files, index };
}

/**
 * Each model's rows re-indexed to the union (see the file header). `tensors[k]` is model
 * `refs[k]`'s [its vocab, hidden] tensor; `base` is the index in `refs` of the explicit base model
 * (−1 if none). Consumes the tensors; returns [union size, hidden] tensors in the same order.
 */
export function reindexRows(
  tensors: np.Array[],
  refs: string[],
  union: TokenizerUnion,
  base: number,
): np.Array[] {
  const n = union.size;
  const idx = refs.map((ref) => union.index.get(ref)!);
  const has = idx.map((at) => Float32Array.from(at, (i) => (i >= 0 ? 1 : 0)));
  // Per model, the weight of its row in the default of each token (host work on ids only).
  const weights = refs.map(() => new Float32Array(n));
  for (let t = 0; t < n; t++) {
    let count = 0;
    for (const h of has) count += h[t]!;
    if (count === 0) continue;
    if (count > 1 && base >= 0 && has[base]![t]) {
      weights[base]![t] = 1;
      continue;
    }
    for (let k = 0; k < refs.length; k++) if (has[k]![t]) weights[k]![t] = 1 / count;
  }
  const column = (x: Float32Array) => np.array(x).reshape([n, 1]);
  const rows = tensors.map((w, k) =>
    np.take(w, np.array(Int32Array.from(idx[k]!, (i) => Math.max(i, 0))), 0).mul(column(has[k]!)),
  );
  let fallback: np.Array | undefined;
  rows.forEach((r, k) => {
    const part = r.ref.mul(column(weights[k]!));
    fallback = fallback === undefined ? part : fallback.add(part);
  });
  const out = rows.map((r, k) => r.add(fallback!.ref.mul(column(has[k]!.map((x) => 1 - x)))));
  fallback!.dispose();
  return out;
}

/** Build the union of the merge's models (the base first) and put it in place. */
export function applyTokenizerUnion(
  config: MergeConfig,
  sources: Map<string, ModelSource>,
): TokenizerUnion {
  const order: string[] = [];
  const base = config.baseModel ?? config.slices[0]!.sources[0]!.model;
  for (const ref of [base, ...config.slices.flatMap((s) => s.sources.map((x) => x.model))]) {
    if (!order.includes(ref)) order.push(ref);
  }
  const union = buildTokenizerUnion(order, sources);
  applyVocabulary(config, sources, union);
  return union;
}

/**
 * Put an output vocabulary in place (the union, or tokenizer_source's): every source of the
 * merge is wrapped so that its vocabulary tensors come re-indexed to it ([size, hidden]), its
 * config says its vocab_size, and its tokenizer files are its. The re-indexing of one tensor is
 * done once, over the models merged into it (the first slice's for the embeddings, the last
 * slice's for lm_head, as run.ts plans) and handed out model by model. `union.index` must hold
 * every source.
 */
export function applyVocabulary(
  config: MergeConfig,
  sources: Map<string, ModelSource>,
  union: TokenizerUnion,
): void {
  const models = (name: string) => {
    const slice = name.startsWith("model.embed") ? config.slices[0]! : config.slices.at(-1)!;
    return [...new Set(slice.sources.map((s) => s.model))];
  };
  const pending = new Map<string, Map<string, np.Array>>();
  const inner = new Map(sources);
  const reindexed = async (name: string, ref: string): Promise<np.Array> => {
    let ready = pending.get(name);
    if (ready === undefined || !ready.has(ref)) {
      const refs = models(name);
      if (!refs.includes(ref)) refs.push(ref);
      const tensors: np.Array[] = [];
      try {
        for (const r of refs) tensors.push(await inner.get(r)!.read(name));
      } catch (error) {
        for (const t of tensors) t.dispose();
        throw error;
      }
      const out = reindexRows(
        tensors,
        refs,
        union,
        config.baseModel === undefined ? -1 : refs.indexOf(config.baseModel),
      );
      ready = new Map(refs.map((r, k) => [r, out[k]!]));
      for (const old of pending.get(name)?.values() ?? []) old.dispose();
      pending.set(name, ready);
    }
    const got = ready.get(ref)!;
    ready.delete(ref);
    return got;
  };
  for (const [ref, s] of inner) {
    const shapes = { ...s.shapes };
    for (const name of VOCAB_TENSORS)
      if (shapes[name]) shapes[name] = [union.size, shapes[name]![1]!];
    sources.set(ref, {
      ...s,
      config: { ...s.config, vocab_size: union.size },
      configJson: { ...s.configJson, vocab_size: union.size },
      shapes,
      read: (name) => (VOCAB_TENSORS.includes(name) ? reindexed(name, ref) : s.read(name)),
      tokenizerFiles: () => union.files,
      close: () => {
        for (const m of pending.values()) for (const a of m.values()) a.dispose();
        pending.clear();
        s.close();
      },
    });
  }
}
