/**
 * Data valuation by early-training scores (Paul, Ganguli & Dziugaite 2021, "Deep Learning on a
 * Data Diet: Finding Important Examples Early in Training"), per sequence of a corpus:
 *
 *   EL2N(x) = mean_t ‖softmax(f(x)_t) − onehot(y_t)‖₂     error L2 norm, averaged over tokens
 *   GraNd(x) = ‖∇_θ ℓ(x)‖₂                                ℓ(x): the sequence's mean token loss
 *
 * The sequences are the fixed non-overlapping windows of seqLen + 1 tokens over the training
 * split (data/sampler.ts validationStarts: offsets 0, seqLen, 2·seqLen, …), so a score file names
 * each window by its offset. The paper keeps the highest-scoring (hardest) examples when
 * pruning; {@link topWindows} does the same. Deviations: one model, not the paper's average over
 * several initialisations (score several runs and average the files yourself if wanted); GraNd
 * over all parameters, via vmap of the per-sequence gradient.
 *
 * The file (`rankwise data-scores --out`), JSON:
 *   { "format": "rankwise-data-scores", "version": 1, "method": "el2n" | "grand",
 *     "model": source path, "step": the run's step (runs only), "data": corpus,
 *     "seqLen", "valFraction", "trainTokens": tokens in the training split,
 *     "trainSha256": SHA-256 of those tokens as little-endian int32,
 *     "starts": [window offsets], "scores": [one score per window] }
 * `train --prune-data f --data-scores file` checks data, seqLen, valFraction and the hash
 * against its own split before it trusts the offsets.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { grad, jit, nn, numpy as np, vmap } from "@jax-js/jax";
import { gatherBatch, validationStarts } from "../data/sampler.js";
import { UsageError } from "../engine/errors.js";
import * as tree from "../engine/tree.js";
import { type LlamaParams, llamaForward, llamaLoss } from "../nn/llama.js";
import type { LlamaConfig } from "../nn/llama-config.js";

/** The score methods, by flag value. */
export const SCORE_METHODS = ["el2n", "grand"] as const;
/** One of {@link SCORE_METHODS}. */
export type ScoreMethod = (typeof SCORE_METHODS)[number];

/** A score file's contents (see the file header). */
export interface DataScores {
  format: "rankwise-data-scores";
  version: 1;
  method: ScoreMethod;
  model: string;
  step?: number;
  data: string;
  seqLen: number;
  valFraction: number;
  trainTokens: number;
  trainSha256: string;
  starts: number[];
  scores: number[];
}

/** EL2N per row: logits [B, T, V], targets [B, T] → [B]. Consumes both. */
export function el2nScores(logits: np.Array, targets: np.Array): np.Array {
  const vocab = logits.shape[logits.ndim - 1];
  const error = nn.softmax(logits, -1).sub(nn.oneHot(targets, vocab));
  return np.sqrt(error.ref.mul(error).sum(-1)).mean(-1);
}

/** ‖∇ llamaLoss‖₂ of one sequence (inputs/targets [T]); vmapped over rows by the scorer. */
function sequenceGradNorm(
  params: LlamaParams,
  inputs: np.Array,
  targets: np.Array,
  config: LlamaConfig,
): np.Array {
  const g = grad((p: LlamaParams) =>
    llamaLoss(p, inputs.reshape([1, -1]), targets.reshape([1, -1]), config),
  )(params);
  const squares = Object.values(g).map((leaf) => leaf.ref.mul(leaf).sum());
  return np.sqrt(squares.reduce((a, b) => a.add(b)));
}

/** A compiled scorer: (params, inputs [B, T], targets [B, T]) → scores [B]; consumes its arguments. */
export interface Scorer {
  (params: LlamaParams, inputs: np.Array, targets: np.Array): np.Array;
  /** Free the compiled program. */
  dispose(): void;
}

/** The jit-compiled scorer of `method` for decoders of `config`. */
export function makeScorer(config: LlamaConfig, method: ScoreMethod): Scorer {
  if (method === "el2n") {
    return jit((params: LlamaParams, inputs: np.Array, targets: np.Array) =>
      el2nScores(llamaForward(params, inputs, config), targets),
    );
  }
  const perRow = (params: LlamaParams, inputs: np.Array, targets: np.Array) =>
    sequenceGradNorm(params, inputs, targets, config);
  return jit(vmap(perRow, [null, 0, 0]));
}

/**
 * Score every window of `tokens` (offsets from validationStarts), `batchSize` windows at a time.
 * Borrows `params`. `onBatch(done, total)` reports progress in windows.
 */
export async function scoreWindows(
  params: LlamaParams,
  config: LlamaConfig,
  tokens: Int32Array,
  opts: {
    seqLen: number;
    batchSize: number;
    method: ScoreMethod;
    onBatch?: (done: number, total: number) => void;
  },
): Promise<{ starts: Int32Array; scores: Float32Array }> {
  const starts = validationStarts(tokens.length, opts.seqLen);
  const scores = new Float32Array(starts.length);
  const scorer = makeScorer(config, opts.method);
  try {
    for (let i = 0; i < starts.length; i += opts.batchSize) {
      const batch = gatherBatch(tokens, starts.slice(i, i + opts.batchSize), opts.seqLen);
      const out = scorer(tree.share(params), batch.inputs, batch.targets);
      scores.set((await out.data()) as Float32Array, i);
      opts.onBatch?.(Math.min(i + opts.batchSize, starts.length), starts.length);
    }
  } finally {
    scorer.dispose();
  }
  return { starts, scores };
}

/** SHA-256 (hex) of int32 tokens as little-endian bytes: ties a score file to one split. */
export function tokensSha256(tokens: Int32Array): string {
  const bytes = new Uint8Array(tokens.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < tokens.length; i++) view.setInt32(4 * i, tokens[i], true);
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * The offsets of the top `fraction` of windows by score, highest first (ties: earlier window
 * first); at least one window is kept.
 */
export function topWindows(scores: DataScores, fraction: number): Int32Array {
  const order = scores.scores.map((_, i) => i);
  order.sort((a, b) => scores.scores[b] - scores.scores[a] || a - b);
  const keep = Math.max(1, Math.ceil(fraction * order.length));
  return Int32Array.from(order.slice(0, keep), (i) => scores.starts[i]);
}

/** Read and check a score file; bad files are one-line UsageErrors. */
export function readDataScores(path: string): DataScores {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      `--data-scores ${path}: ${code ? `cannot read it (${code})` : "not valid JSON"}; write one with rankwise data-scores`,
    );
  }
  const s = value as Partial<DataScores>;
  const ok =
    typeof s === "object" &&
    s !== null &&
    s.format === "rankwise-data-scores" &&
    s.version === 1 &&
    SCORE_METHODS.includes(s.method as ScoreMethod) &&
    Array.isArray(s.starts) &&
    Array.isArray(s.scores) &&
    s.starts.length === s.scores.length &&
    s.starts.length > 0 &&
    s.scores.every((v) => typeof v === "number" && Number.isFinite(v)) &&
    s.starts.every((v) => Number.isInteger(v) && v >= 0) &&
    typeof s.trainSha256 === "string" &&
    Number.isInteger(s.seqLen);
  if (!ok) {
    throw new UsageError(
      `--data-scores ${path} is not a rankwise data-scores file (format rankwise-data-scores, version 1, equal-length starts and finite scores)`,
    );
  }
  return s as DataScores;
}

/** Check that a score file was computed on exactly this training split and window length. */
export function checkScoresMatch(
  scores: DataScores,
  path: string,
  run: { data: string; seqLen: number; valFraction: number; train: Int32Array },
): void {
  const differs = (what: string, theirs: unknown, ours: unknown) =>
    new UsageError(
      `--data-scores ${path} was computed with ${what} ${String(theirs)}, this run has ${String(ours)}: score the same data with rankwise data-scores`,
    );
  if (scores.seqLen !== run.seqLen) throw differs("--seq-len", scores.seqLen, run.seqLen);
  if (scores.valFraction !== run.valFraction)
    throw differs("--val-fraction", scores.valFraction, run.valFraction);
  if (scores.trainTokens !== run.train.length || scores.trainSha256 !== tokensSha256(run.train)) {
    throw new UsageError(
      `--data-scores ${path} was computed on other training tokens (its data ${scores.data}, this run's ${run.data}; or another tokenizer): score this run's data with rankwise data-scores`,
    );
  }
  const last = run.train.length - run.seqLen - 1;
  if (scores.starts.some((s) => s > last)) throw differs("window offsets past", last, "its split");
}
