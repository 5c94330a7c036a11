/**
 * `train --prune-data f --data-scores file`: training batches drawn only from the kept windows,
 * the top fraction f of a `rankwise data-scores` file by score (highest first, as the data-diet
 * paper keeps the hardest examples; train/data-scores.ts).
 *
 * Each row is a kept window chosen uniformly with replacement by the same seeded xoshiro128**
 * as BatchSampler, so the sampler's state (seed, position, rng words) checkpoints and resumes
 * exactly like the unpruned one. Unlike BatchSampler, rows start only at the scored windows'
 * offsets (multiples of seqLen), never in between.
 */
import { BatchSampler, type SamplerOptions, type SamplerState } from "../../data/sampler.js";
import { UsageError } from "../../engine/errors.js";
import { Xoshiro128 } from "../../engine/rng.js";
import type { TrainConfig } from "../config.js";
import { checkScoresMatch, readDataScores, topWindows } from "../data-scores.js";
import type { Data } from "../run-data.js";

/** A BatchSampler restricted to a fixed set of window offsets. */
export class PrunedSampler extends BatchSampler {
  /** The window offsets rows are drawn from. */
  readonly kept: Int32Array;
  private pick: Xoshiro128;
  private picks = 0;

  constructor(tokens: Int32Array, kept: Int32Array, opts: SamplerOptions) {
    super(tokens, opts);
    if (kept.length === 0) throw new RangeError("PrunedSampler: no windows kept");
    for (const s of kept) {
      if (s < 0 || s + this.seqLen + 1 > tokens.length) {
        throw new RangeError(`PrunedSampler: window at ${s} runs past the ${tokens.length} tokens`);
      }
    }
    this.kept = kept;
    this.pick = Xoshiro128.fromSeed(this.seed);
  }

  /** The sampler that continues where the one that produced `state` stopped. */
  static resume(
    tokens: Int32Array,
    kept: Int32Array,
    opts: SamplerOptions,
    state: SamplerState,
  ): PrunedSampler {
    const sampler = new PrunedSampler(tokens, kept, { ...opts, seed: state.seed });
    sampler.pick = new Xoshiro128(state.rng);
    sampler.picks = state.position;
    return sampler;
  }

  override get position(): number {
    return this.picks;
  }

  override nextStarts(): Int32Array {
    const starts = new Int32Array(this.batchSize);
    for (let r = 0; r < this.batchSize; r++)
      starts[r] = this.kept[this.pick.below(this.kept.length)];
    this.picks++;
    return starts;
  }

  override state(): SamplerState {
    return { seed: this.seed, position: this.picks, rng: this.pick.state() };
  }
}

/** The run's pruned sampler (fresh, or continuing `state`), from its config's score file. */
export function prunedSampler(
  data: Data,
  config: TrainConfig,
  state?: SamplerState,
): PrunedSampler {
  const path = config.dataScores;
  if (path === undefined || config.pruneData === undefined) {
    throw new UsageError(
      "--prune-data needs --data-scores <file> (written by rankwise data-scores)",
    );
  }
  const scores = readDataScores(path);
  checkScoresMatch(scores, path, { ...config, train: data.train });
  const kept = topWindows(scores, config.pruneData);
  const opts = { batchSize: config.batchSize, seqLen: config.seqLen, seed: config.seed };
  return state
    ? PrunedSampler.resume(data.train, kept, opts, state)
    : new PrunedSampler(data.train, kept, opts);
}
