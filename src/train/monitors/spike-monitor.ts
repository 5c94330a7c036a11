/**
 * GradientSpikeMonitor — flags gradient spikes from the per-step global gradient norm, for the
 * trainer's metrics (the SPAM papers, arXiv 2501.06842 and 2502.17055, motivate watching them).
 *
 *   step t is a spike when t > warmup and n_t > factor · â_{t−1}      (or n_t is not finite)
 *   a_t = β·a_{t−1} + (1−β)·min(n_t, factor·â_{t−1}),  bias-corrected: â_t = a_t/(1 − β^k)
 * where k counts the finite norms seen (no clipping during the warm-up). A spike enters the
 * average clipped at the threshold, so one burst does not hide the next, while a lasting change
 * of scale is still followed.
 * Non-finite norms are spikes and leave the average alone. Plain numbers, no arrays.
 *
 * How the trainer uses it: when a monitor is configured, the trainer reads the global gradient
 * norm every step (one scalar read per step, the only cost), calls `observe(norm, step)`, and
 * merges `metrics()` into each logged train row: `gradSpikes` (spikes so far), `lastSpikeStep`
 * (null before the first) and `gradNormRatio` (last norm / running average before it) — a
 * report can then mark spikes against the loss curve. `observe` also returns whether this step
 * was a spike, so a trainer may log a line or skip the update.
 */

export interface SpikeMonitorOptions {
  /** A norm above factor × running average is a spike (default 10). */
  factor?: number;
  /** Steps observed before any spike is reported (default 10). */
  warmup?: number;
  /** Decay β of the running average (default 0.98). */
  decay?: number;
}

/** What the monitor reports for the metrics rows. */
export interface SpikeMetrics {
  /** Spikes seen so far. */
  spikes: number;
  /** Step of the latest spike, null before the first. */
  lastSpikeStep: number | null;
  /** Latest norm divided by the running average it was compared with (NaN before any average). */
  ratio: number;
}

/**
 * Flags gradient spikes from the per-step global gradient norm: a step is a spike when its norm
 * exceeds `factor` × the running (clipped, bias-corrected) average.
 */
export class GradientSpikeMonitor {
  readonly factor: number;
  readonly warmup: number;
  readonly decay: number;
  private avg = 0;
  private finite = 0;
  private seen = 0;
  private spikes = 0;
  private lastSpikeStep: number | null = null;
  private ratio = Number.NaN;

  constructor(options: SpikeMonitorOptions = {}) {
    for (const key of Object.keys(options)) {
      if (!["factor", "warmup", "decay"].includes(key)) {
        throw new TypeError(
          `GradientSpikeMonitor: unknown option "${key}" (accepted: factor, warmup, decay)`,
        );
      }
    }
    this.factor = options.factor ?? 10;
    this.warmup = options.warmup ?? 10;
    this.decay = options.decay ?? 0.98;
    if (!(this.factor > 1) || !Number.isFinite(this.factor)) {
      throw new RangeError(`factor must be a number > 1, got ${options.factor}`);
    }
    if (!Number.isInteger(this.warmup) || this.warmup < 0) {
      throw new RangeError(`warmup must be an integer ≥ 0, got ${options.warmup}`);
    }
    if (!(this.decay >= 0 && this.decay < 1)) {
      throw new RangeError(`decay must be in [0, 1), got ${options.decay}`);
    }
  }

  /** The bias-corrected running average of the norm (NaN before the first finite norm). */
  get average(): number {
    return this.finite === 0 ? Number.NaN : this.avg / (1 - this.decay ** this.finite);
  }

  /** Record the gradient norm of `step` (default: the count of observed steps); true on a spike. */
  observe(norm: number, step: number = this.seen + 1): boolean {
    if (typeof norm !== "number") throw new TypeError(`norm must be a number, got ${typeof norm}`);
    this.seen++;
    const average = this.average;
    this.ratio = norm / average;
    const armed = this.seen > this.warmup && this.finite > 0;
    const spike = !Number.isFinite(norm) || (armed && norm > this.factor * average);
    if (spike) {
      this.spikes++;
      this.lastSpikeStep = step;
    }
    if (Number.isFinite(norm)) {
      const bounded = armed ? Math.min(norm, this.factor * average) : norm;
      this.avg = this.decay * this.avg + (1 - this.decay) * bounded;
      this.finite++;
    }
    return spike;
  }

  /** Everything the monitor knows, as plain numbers (for checkpoints). */
  state(): Record<string, number | null> {
    return {
      avg: this.avg,
      finite: this.finite,
      seen: this.seen,
      spikes: this.spikes,
      lastSpikeStep: this.lastSpikeStep,
    };
  }

  /** Continue from `state()` of a monitor with the same options. */
  restore(state: Record<string, number | null>): this {
    this.avg = state.avg ?? 0;
    this.finite = state.finite ?? 0;
    this.seen = state.seen ?? 0;
    this.spikes = state.spikes ?? 0;
    this.lastSpikeStep = state.lastSpikeStep ?? null;
    return this;
  }

  /** Spikes so far, the latest spike's step and the last norm over the running average. */
  metrics(): SpikeMetrics {
    return { spikes: this.spikes, lastSpikeStep: this.lastSpikeStep, ratio: this.ratio };
  }
}
