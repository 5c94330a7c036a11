/**
 * Batches for next-token prediction.
 *
 * Training: BatchSampler draws `batchSize` windows of seqLen + 1 tokens at uniformly random
 * offsets (with replacement) from the token array; inputs = window[0..seqLen),
 * targets = window[1..seqLen]. Randomness comes from a seeded xoshiro128** (./rng.ts) whose state
 * is plain numbers, so `state()` goes into a checkpoint and `BatchSampler.restore` continues the
 * exact same sequence of batches.
 *
 * Evaluation: validationBatches walks fixed, non-overlapping windows over the validation tokens
 * (every token after the first is a target exactly once), optionally thinned to an evenly spaced
 * subset when capped by maxBatches. Same windows every time, so validation losses are comparable.
 *
 * Batches are jax-js int32 arrays of shape [rows, seqLen]; the caller owns (and must consume or
 * dispose) them. `starts` gives each row's offset into the token array.
 */
import { numpy as np } from "@jax-js/jax";
import { Xoshiro128 } from "../engine/rng.js";

/**
 * One batch for next-token prediction: `targets` are `inputs` shifted by one token. The caller owns
 * both arrays.
 */
export interface Batch {
  inputs: np.Array;
  targets: np.Array;
  /** Offset of each row's window in the token array. */
  starts: Int32Array;
}

/**
 * Options of a {@link BatchSampler}: rows per batch, tokens per row and the random seed (default
 * 0).
 */
export interface SamplerOptions {
  batchSize: number;
  seqLen: number;
  /** Any safe integer; default 0. */
  seed?: number;
}

/**
 * A sampler's position and random state as plain numbers (JSON), for checkpoints; see {@link
 * BatchSampler.restore}.
 */
export interface SamplerState {
  seed: number;
  /** Batches drawn so far. */
  position: number;
  /** xoshiro128** state words. */
  rng: number[];
}

function checkPositiveInt(name: string, value: unknown): asserts value is number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name}: expected a positive integer, got ${value}`);
  }
}

function checkWindow(tokens: Int32Array, seqLen: number, what: string): void {
  if (!(tokens instanceof Int32Array)) throw new TypeError(`${what}: tokens must be an Int32Array`);
  if (tokens.length < seqLen + 1) {
    throw new RangeError(
      `${what}: ${tokens.length} tokens are too few for seqLen ${seqLen} (need at least ${seqLen + 1})`,
    );
  }
}

/** Gather the windows at `starts` into [rows, seqLen] int32 inputs and targets. */
export function gatherBatch(tokens: Int32Array, starts: Int32Array, seqLen: number): Batch {
  const rows = starts.length;
  const inputs = new Int32Array(rows * seqLen);
  const targets = new Int32Array(rows * seqLen);
  for (let r = 0; r < rows; r++) {
    const s = starts[r]!;
    if (s < 0 || s + seqLen + 1 > tokens.length) {
      throw new RangeError(`gatherBatch: window at ${s} runs past the ${tokens.length} tokens`);
    }
    inputs.set(tokens.subarray(s, s + seqLen), r * seqLen);
    targets.set(tokens.subarray(s + 1, s + seqLen + 1), r * seqLen);
  }
  const shape = [rows, seqLen];
  return {
    inputs: np.array(inputs, { shape, dtype: np.int32 }),
    targets: np.array(targets, { shape, dtype: np.int32 }),
    starts,
  };
}

/**
 * Draws training batches: `batchSize` windows at uniformly random offsets (with replacement),
 * seeded, so that a run can be replayed and resumed exactly.
 */
export class BatchSampler {
  readonly batchSize: number;
  readonly seqLen: number;
  readonly seed: number;
  private readonly tokens: Int32Array;
  private rng: Xoshiro128;
  private drawn: number;

  constructor(tokens: Int32Array, opts: SamplerOptions) {
    this.batchSize = opts.batchSize;
    this.seqLen = opts.seqLen;
    this.seed = opts.seed ?? 0;
    checkPositiveInt("batchSize", this.batchSize);
    checkPositiveInt("seqLen", this.seqLen);
    checkWindow(tokens, this.seqLen, "BatchSampler");
    this.tokens = tokens;
    this.rng = Xoshiro128.fromSeed(this.seed);
    this.drawn = 0;
  }

  /** A sampler that continues exactly where the one that produced `state` stopped. */
  static restore(tokens: Int32Array, opts: SamplerOptions, state: SamplerState): BatchSampler {
    if (typeof state !== "object" || state === null) {
      throw new TypeError("BatchSampler.restore: state must be {seed, position, rng}");
    }
    if (opts.seed !== undefined && opts.seed !== state.seed) {
      throw new RangeError(
        `BatchSampler.restore: seed ${opts.seed} differs from the checkpoint's seed ${state.seed}`,
      );
    }
    if (!Number.isInteger(state.position) || state.position < 0) {
      throw new RangeError(`BatchSampler.restore: bad position ${state.position}`);
    }
    const sampler = new BatchSampler(tokens, { ...opts, seed: state.seed });
    sampler.rng = new Xoshiro128(state.rng);
    sampler.drawn = state.position;
    return sampler;
  }

  /** Batches drawn so far. */
  get position(): number {
    return this.drawn;
  }

  /** Draw the next batch's window offsets (advances the sampler). */
  nextStarts(): Int32Array {
    const count = this.tokens.length - this.seqLen; // valid offsets: 0 .. n - seqLen - 1
    const starts = new Int32Array(this.batchSize);
    for (let r = 0; r < this.batchSize; r++) starts[r] = this.rng.below(count);
    this.drawn++;
    return starts;
  }

  /** The next batch (the caller owns its arrays). */
  next(): Batch {
    return gatherBatch(this.tokens, this.nextStarts(), this.seqLen);
  }

  /** The state to save in a checkpoint; {@link BatchSampler.restore} continues from it. */
  state(): SamplerState {
    return { seed: this.seed, position: this.drawn, rng: this.rng.state() };
  }
}

/**
 * Options of {@link validationBatches}: rows per batch, tokens per row, and an optional cap on the
 * number of batches.
 */
export interface ValidationOptions {
  batchSize: number;
  seqLen: number;
  /** Cap on the number of batches; windows are then spread evenly over the split. */
  maxBatches?: number;
}

/**
 * Offsets of the fixed evaluation windows over `length` tokens: non-overlapping windows at
 * 0, seqLen, 2·seqLen, … (each needs seqLen + 1 tokens); with `maxWindows` below that count,
 * an evenly spaced subset of them.
 */
export function validationStarts(length: number, seqLen: number, maxWindows?: number): Int32Array {
  checkPositiveInt("seqLen", seqLen);
  const total = Math.max(0, Math.floor((length - 1) / seqLen));
  const count = maxWindows === undefined ? total : Math.min(total, maxWindows);
  const starts = new Int32Array(count);
  for (let k = 0; k < count; k++) starts[k] = Math.floor((k * total) / count) * seqLen;
  return starts;
}

/** Fixed evaluation batches over the validation tokens; the last batch may have fewer rows. */
export function validationBatches(tokens: Int32Array, opts: ValidationOptions): Generator<Batch> {
  checkPositiveInt("batchSize", opts.batchSize);
  checkPositiveInt("seqLen", opts.seqLen);
  if (opts.maxBatches !== undefined) checkPositiveInt("maxBatches", opts.maxBatches);
  checkWindow(tokens, opts.seqLen, "validationBatches");
  const maxWindows = opts.maxBatches === undefined ? undefined : opts.maxBatches * opts.batchSize;
  const starts = validationStarts(tokens.length, opts.seqLen, maxWindows);
  // Options are checked above, eagerly; arrays are only made as the caller asks for them.
  return (function* () {
    for (let i = 0; i < starts.length; i += opts.batchSize) {
      yield gatherBatch(tokens, starts.slice(i, i + opts.batchSize), opts.seqLen);
    }
  })();
}
