/**
 * Batches from several domains: one seeded batch stream per domain plus a seeded mixing stream
 * that picks each row's domain.
 *
 * Rule (per-sequence sampling): for each of the batch's rows, the mixing stream (xoshiro128**)
 * draws u ∈ [0, 1) and the row's domain is the first i with u < w_1 + … + w_i under the current
 * weights; that domain's own stream (a BatchSampler of one row) then draws the window. So a
 * step's rows follow the weights in expectation (a domain of weight w gets B·w rows on
 * average), every domain's windows come in the same order whatever the weights, and the whole
 * state (positions, generator words) is plain numbers that a checkpoint restores exactly.
 *
 * Rows are gathered from the domains' training tokens laid end to end (`tokens`, with
 * `offsets`): a window never straddles two domains because each domain's stream only draws
 * windows inside its own part.
 */
import { type Batch, BatchSampler, gatherBatch, type SamplerState } from "../../data/sampler.js";
import { Xoshiro128 } from "../../engine/rng.js";

/** A batch and the domain of each of its rows. */
export interface MixedBatch extends Batch {
  domains: Int32Array;
}

/** A {@link MixtureSampler}'s state as plain numbers (JSON), for checkpoints. */
export interface MixtureStreams {
  /** The mixing stream and position (batches drawn), as a BatchSampler's state. */
  seed: number;
  position: number;
  rng: number[];
  /** Each domain's stream. */
  streams: SamplerState[];
}

/** The domain streams' seeds: distinct from each other and from a one-domain run's. */
const streamSeed = (seed: number, i: number) => seed * 64 + 1 + i;
/** The mixing stream's seed. */
const mixSeed = (seed: number) => seed * 64 + 63;

/** Batches whose rows are drawn across domains by weights (see the file header). */
export class MixtureSampler {
  readonly batchSize: number;
  readonly seqLen: number;
  readonly seed: number;
  private readonly tokens: Int32Array;
  private readonly offsets: number[];
  private readonly parts: readonly Int32Array[];
  private streams: BatchSampler[];
  private rng: Xoshiro128;
  private drawn = 0;

  /** `parts`: each domain's training tokens; `tokens` is them end to end. */
  constructor(
    tokens: Int32Array,
    parts: readonly Int32Array[],
    o: { batchSize: number; seqLen: number; seed: number },
  ) {
    this.batchSize = o.batchSize;
    this.seqLen = o.seqLen;
    this.seed = o.seed;
    this.tokens = tokens;
    this.parts = parts;
    this.offsets = [];
    let at = 0;
    for (const p of parts) {
      this.offsets.push(at);
      at += p.length;
    }
    if (at !== tokens.length) throw new RangeError("MixtureSampler: parts do not add up to tokens");
    this.streams = parts.map(
      (p, i) =>
        new BatchSampler(p, { batchSize: 1, seqLen: o.seqLen, seed: streamSeed(o.seed, i) }),
    );
    this.rng = Xoshiro128.fromSeed(mixSeed(o.seed));
  }

  /** Batches drawn so far (training batches, not probes). */
  get position(): number {
    return this.drawn;
  }

  /** The next batch, its rows' domains drawn by `weights`. */
  next(weights: readonly number[]): MixedBatch {
    const rows = this.batchSize;
    const domains = new Int32Array(rows);
    const starts = new Int32Array(rows);
    for (let r = 0; r < rows; r++) {
      const u = this.rng.nextUint32() / 0x100000000;
      let i = 0;
      let acc = weights[0]!;
      while (u >= acc && i < weights.length - 1) acc += weights[++i]!;
      // A zero-weight domain is never chosen, even when rounding leaves acc just below 1.
      while (weights[i] === 0 && i > 0) i--;
      domains[r] = i;
      starts[r] = this.offsets[i]! + this.streams[i]!.nextStarts()[0]!;
    }
    this.drawn++;
    return { ...gatherBatch(this.tokens, starts, this.seqLen), domains };
  }

  /**
   * The next batch in equal domain blocks (domain i: rows i·B/m … (i+1)·B/m − 1, each from its
   * own stream; the mixing stream is not used). For `--mixing upgrad`; B must be a multiple of m.
   */
  stratified(): MixedBatch {
    const m = this.streams.length;
    const per = this.batchSize / m;
    if (!Number.isInteger(per)) throw new RangeError("stratified: batchSize is not a multiple");
    const domains = new Int32Array(this.batchSize);
    const starts = new Int32Array(this.batchSize);
    for (let r = 0; r < this.batchSize; r++) {
      const i = Math.floor(r / per);
      domains[r] = i;
      starts[r] = this.offsets[i]! + this.streams[i]!.nextStarts()[0]!;
    }
    this.drawn++;
    return { ...gatherBatch(this.tokens, starts, this.seqLen), domains };
  }

  /** A batch of rows all from domain `i` (its own stream; for gradient probes). */
  probe(i: number): Batch {
    const starts = new Int32Array(this.batchSize);
    for (let r = 0; r < this.batchSize; r++) {
      starts[r] = this.offsets[i]! + this.streams[i]!.nextStarts()[0]!;
    }
    return gatherBatch(this.tokens, starts, this.seqLen);
  }

  /** The state to save in a checkpoint; {@link MixtureSampler.restore} continues from it. */
  state(): MixtureStreams {
    return {
      seed: this.seed,
      position: this.drawn,
      rng: this.rng.state(),
      streams: this.streams.map((s) => s.state()),
    };
  }

  /** Continue exactly where the sampler that produced `state` stopped. */
  restore(state: MixtureStreams): void {
    if (state.seed !== this.seed || state.streams?.length !== this.streams.length) {
      throw new RangeError("MixtureSampler.restore: the state is from another seed or domain list");
    }
    this.rng = new Xoshiro128(state.rng);
    this.drawn = state.position;
    this.streams = this.streams.map((_, i) =>
      BatchSampler.restore(
        this.parts[i]!,
        { batchSize: 1, seqLen: this.seqLen },
        state.streams[i]!,
      ),
    );
  }
}
