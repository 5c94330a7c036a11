/**
 * The run's data: corpus → tokenizer → train/validation split, the batch sampler, and the
 * validation loss.
 *
 * Several domains (`--data moby-dick,sotu[,file…]`): each corpus is split on its own (the last
 * valFraction of each is its validation text); one tokenizer is built over all of them (joined
 * by blank lines); `train`/`val` are the domains' parts end to end and `domains` names each part.
 * The sampler is then a Mixer (mixing/mixer.ts): one stream per domain, rows drawn across
 * domains by the `--mixing` weights.
 */
import { join } from "node:path";
import type { numpy as np } from "@jax-js/jax";
import { loadCorpus } from "../data/corpus.js";
import { BatchSampler, type SamplerState, validationBatches } from "../data/sampler.js";
import { splitTokens } from "../data/split.js";
import { buildTokenizer, type Tokenizer, tokenizerFromJSON } from "../data/tokenizer.js";
import * as tree from "../engine/tree.js";
import type { LlamaParams } from "../nn/llama.js";
import type { LlamaConfig } from "../nn/llama-config.js";
import { loadModel } from "../nn/pretrained.js";
import { checkpointPath, hasCheckpoint, readTrainerMeta } from "./checkpoint.js";
import { type TrainConfig, UsageError } from "./config.js";
import { Mixer, type MixerState } from "./mixing/mixer.js";
import { domainNames, parseMixing } from "./mixing/spec.js";
import { PrunedSampler, prunedSampler } from "./reweight/pruned-sampler.js";

/** Read a scalar array (consumed) without blocking the thread pool. */
export const scalar = async (a: np.Array) => (await a.data())[0];

export interface Data {
  tokenizer: Tokenizer;
  train: Int32Array;
  val: Int32Array;
  /** Validation tokens per character (1 for char tokenizers). */
  tokensPerChar: number;
  /** With several domains: each one's name and its parts of `train` and `val`. */
  domains?: DataDomain[];
}

export interface DataDomain {
  name: string;
  train: Int32Array;
  val: Int32Array;
}

/** Arrays end to end. */
function concat(parts: readonly Int32Array[]): Int32Array {
  const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
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
  const names = domainNames(config.data);
  if (names.length > 1) {
    if (config.pruneData !== undefined) {
      throw new UsageError("--prune-data works on one --data corpus, not a mixture of domains");
    }
    return loadDomains(config, names, tokenizerJson, owner);
  }
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
  const data: Data = { tokenizer, train, val, tokensPerChar: val.length / valChars };
  // --prune-data: the score file is checked against this split before the run claims a folder.
  if (config.pruneData !== undefined) prunedSampler(data, config);
  return data;
}

/** Several domains: one tokenizer over all, each split on its own. */
function loadDomains(
  config: TrainConfig,
  names: string[],
  tokenizerJson: unknown,
  owner: "run" | "base",
): Data {
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new UsageError(`--data names ${dup} twice; give each domain once`);
  const texts = names.map((name) => {
    try {
      return loadCorpus(name).text;
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  });
  const tokenizer = tokenizerJson
    ? tokenizerFromJSON(tokenizerJson)
    : buildTokenizer(config.tokenizer, texts.join("\n\n"));
  const domains = names.map((name, i) => {
    let tokens: Int32Array;
    try {
      tokens = tokenizer.encode(texts[i]!);
    } catch (error) {
      const why = (error as Error).message.replace(/^encode: /, "");
      throw new UsageError(
        owner === "run"
          ? `corpus ${name} no longer fits the run's tokenizer (was it changed?): ${why}`
          : `corpus ${name} has text the base model's tokenizer cannot encode: ${why}; fine-tune a base with a byte or BPE tokenizer (train it with --tokenizer byte)`,
      );
    }
    const { train, val } = splitTokens(tokens, { valFraction: config.valFraction });
    if (train.length < config.seqLen + 1 || val.length < config.seqLen + 1) {
      throw new UsageError(
        `corpus ${name} is too small for --seq-len ${config.seqLen} (train ${train.length}, validation ${val.length} tokens)`,
      );
    }
    return { name, train, val };
  });
  const train = concat(domains.map((d) => d.train));
  const val = concat(domains.map((d) => d.val));
  // The domains as views of the joined arrays, so nothing is held twice.
  let t = 0;
  let v = 0;
  for (const d of domains) {
    d.train = train.subarray(t, t + d.train.length);
    d.val = val.subarray(v, v + d.val.length);
    t += d.train.length;
    v += d.val.length;
  }
  const valChars = domains.reduce((n, d) => n + tokenizer.decode(d.val).length, 0);
  return { tokenizer, train, val, tokensPerChar: val.length / valChars, domains };
}

/** The run's sampler at step 0: one stream, or a Mixer over the domains. */
export function makeSampler(data: Data, config: TrainConfig): BatchSampler | Mixer {
  const o = { batchSize: config.batchSize, seqLen: config.seqLen, seed: config.seed };
  if (!data.domains) {
    // --prune-data: only the top-scoring windows (train/reweight/pruned-sampler.ts)
    if (config.pruneData !== undefined) return prunedSampler(data, config);
    return new BatchSampler(data.train, o);
  }
  const names = data.domains.map((d) => d.name);
  const spec = parseMixing(config.mixing ?? "uniform", names);
  const reference = spec.rule === "doremi" ? referenceLoader(config, data) : undefined;
  return new Mixer({
    ...o,
    names,
    spec,
    tokens: data.train,
    parts: data.domains.map((d) => d.train),
    target: config.mixingTarget === undefined ? undefined : names.indexOf(config.mixingTarget),
    every: config.mixingEvery,
    reference,
  });
}

/** The sampler continuing a checkpoint's `state`. */
export function restoreSampler(
  data: Data,
  config: TrainConfig,
  state: SamplerState,
): BatchSampler | Mixer {
  const sampler = makeSampler(data, config);
  if (sampler instanceof Mixer) {
    sampler.restore(state as MixerState);
    return sampler;
  }
  if ((state as Partial<MixerState>).mixing) {
    throw new UsageError("cannot resume: the checkpoint was trained on several domains");
  }
  if (sampler instanceof PrunedSampler) {
    return PrunedSampler.resume(
      data.train,
      sampler.kept,
      { batchSize: config.batchSize, seqLen: config.seqLen },
      state,
    );
  }
  return BatchSampler.restore(
    data.train,
    { batchSize: config.batchSize, seqLen: config.seqLen },
    state,
  );
}

/**
 * DoReMi's reference: the model in run folder `config.reference`'s checkpoint, which must share
 * this run's tokenizer (checked now; the weights load at the first batch).
 */
function referenceLoader(
  config: TrainConfig,
  data: Data,
): () => Promise<{ config: LlamaConfig; params: LlamaParams }> {
  const dir = config.reference!;
  const meta = hasCheckpoint(dir) ? readTrainerMeta(dir) : undefined;
  if (!meta) {
    throw new UsageError(
      `--reference ${dir} holds no run checkpoint; train the reference first (e.g. rankwise train --data ${config.data} --mixing uniform --out ${dir})`,
    );
  }
  if (JSON.stringify(meta.tokenizer) !== JSON.stringify(data.tokenizer.toJSON())) {
    throw new UsageError(
      `--reference ${dir} was trained with another tokenizer; train it on the same --data and --tokenizer`,
    );
  }
  return async () => {
    const model = await loadModel(join(checkpointPath(dir)));
    return { config: model.config as LlamaConfig, params: model.params };
  };
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
