/**
 * The trainer's matrix monitors (`--monitors spectral,alignment,rank`, every `--monitor-every`
 * steps): one "monitor" metrics row per interval, from the weights before the step, the step's
 * gradient and its update (matrix-stats.ts holds the math).
 *
 *   spectral   top singular value σ₁ per matrix, and the spectral alignment a = u₁ᵀΔWv₁/‖ΔW‖ of
 *              the update with it; a warning row ("sa-warning") after the first `warmup` steps
 *              when the sign diversity of a collapses — at least `signThreshold` of the matrices
 *              have a > 0 (the paper's criterion, on our a) — while max a > saThreshold
 *   alignment  gradient–weight alignment cos(G, W) per matrix
 *   rank       stable rank ‖W‖²_F/σ₁² per matrix
 * Every row also carries the per-tensor gradient norms (all leaves, vectors too).
 * Per-matrix values go in maps keyed by the tensor's path; summaries (max, mean, share) are
 * plain fields the report charts.
 *
 * Cost is bounded: power iteration warm-started from the previous interval's vectors
 * (`iterations` per interval, `firstIterations` the first time), never a full SVD. The vectors
 * are not checkpointed: a resumed run starts them afresh (the monitors never change training).
 */
import { jit, numpy as np } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import * as tree from "../../engine/tree.js";
import { norm, startVector } from "../../linalg/power-iteration.js";
import { type MatrixStats, matrixStats } from "./matrix-stats.js";

/** ‖x‖ of every leaf, stacked; consumes the tree. One compiled program, one read. */
const leafNorms = jit((t: tree.Params) =>
  np.stack(tree.leaves(t).map((x) => norm(x))),
) as unknown as (t: tree.Params) => np.Array;

/** The monitor groups `--monitors` accepts. */
export const MONITOR_KINDS = ["spectral", "alignment", "rank"] as const;
export type MonitorKind = (typeof MONITOR_KINDS)[number];

/** Options of {@link TrainingMonitors}. */
export interface MonitorOptions {
  kinds: readonly MonitorKind[];
  /** Power iterations per interval, warm-started (default 3). */
  iterations?: number;
  /** Power iterations the first time a matrix is seen (default 20). */
  firstIterations?: number;
  /** Max spectral alignment above which a warning row may be written (default 0.5). */
  saThreshold?: number;
  /** Share of matrices with a > 0 at or above which a warning row may be written (default 0.7). */
  signThreshold?: number;
  /** Steps before any warning (default 50): early in training σ₁ grows along u₁v₁ᵀ in most
   *  matrices (alignment near 1 for tens of steps, bench/monitors.ts) without any explosion. */
  warmup?: number;
}

/** A "monitor" metrics row. */
export interface MonitorRow {
  type: "monitor";
  step: number;
  /** ‖G‖ of every gradient leaf, by path. */
  gradNorms: Record<string, number>;
  gradNormMax: number;
  sigma?: Record<string, number>;
  sigmaMax?: number;
  spectralAlignment?: Record<string, number>;
  saMax?: number;
  saMean?: number;
  /** Share of matrices whose update inflates σ₁ (a > 0): the sign diversity of a. */
  saPositive?: number;
  gradWeightCos?: Record<string, number>;
  gradWeightCosMean?: number;
  stableRank?: Record<string, number>;
  stableRankMin?: number;
  stableRankMean?: number;
}

/** A warning row: spectral alignment above the threshold. */
export interface SaWarningRow {
  type: "sa-warning";
  step: number;
  saMax: number;
  /** The matrix with that alignment. */
  matrix: string;
  threshold: number;
  /** Share of matrices with a > 0. */
  saPositive: number;
}

/** Parse `spectral,alignment,rank` (a string or a list); "" or "none" = no monitors. */
export function parseMonitorKinds(value: unknown): MonitorKind[] {
  const items = Array.isArray(value)
    ? value.map(String)
    : String(value ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "" && s !== "none");
  for (const item of items) {
    if (!MONITOR_KINDS.includes(item as MonitorKind)) {
      throw new UsageError(
        `--monitors must be a comma-separated list of ${MONITOR_KINDS.join(", ")} (or none); got "${item}"`,
      );
    }
  }
  return [...new Set(items as MonitorKind[])];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const byPath = (paths: string[], values: number[]) =>
  Object.fromEntries(paths.map((p, i) => [p, values[i]]));

export class TrainingMonitors {
  readonly kinds: readonly MonitorKind[];
  readonly iterations: number;
  readonly firstIterations: number;
  readonly saThreshold: number;
  readonly signThreshold: number;
  readonly warmup: number;
  /** Warm-start vectors by matrix path, on the host (nothing stays on the device). */
  private vectors = new Map<string, Float32Array>();
  /** The latest row (for the spike monitor's messages). */
  last: MonitorRow | null = null;

  constructor(options: MonitorOptions) {
    this.kinds = parseMonitorKinds(options.kinds);
    this.iterations = options.iterations ?? 3;
    this.firstIterations = options.firstIterations ?? 20;
    this.saThreshold = options.saThreshold ?? 0.5;
    this.signThreshold = options.signThreshold ?? 0.7;
    if (!(this.signThreshold > 0 && this.signThreshold <= 1)) {
      throw new RangeError(`signThreshold must be in (0, 1], got ${options.signThreshold}`);
    }
    this.warmup = options.warmup ?? 50;
    if (!Number.isInteger(this.warmup) || this.warmup < 0) {
      throw new RangeError(`warmup must be an integer ≥ 0, got ${options.warmup}`);
    }
    for (const [name, v] of [
      ["iterations", this.iterations],
      ["firstIterations", this.firstIterations],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be an integer ≥ 1`);
    }
    if (!(this.saThreshold > 0 && this.saThreshold <= 1)) {
      throw new RangeError(`saThreshold must be in (0, 1], got ${options.saThreshold}`);
    }
  }

  /**
   * The row for `step` from the weights before the update, the gradient and the update (all
   * borrowed), and a warning row when the spectral alignment crosses the threshold.
   */
  async observe(
    step: number,
    params: tree.Params,
    grads: tree.Params,
    updates: tree.Params,
  ): Promise<{ row: MonitorRow; warning?: SaWarningRow }> {
    const paths = tree.paths(params);
    const [ws, gs, ds] = [params, grads, updates].map((t) => tree.leaves(t));
    const norms = Array.from((await leafNorms(tree.share(grads)).data()) as Float32Array);
    const row: MonitorRow = {
      type: "monitor",
      step,
      gradNorms: byPath(paths, norms),
      gradNormMax: Math.max(...norms),
    };
    const mat = ws.flatMap((w, i) => (w.ndim === 2 ? [i] : []));
    if (mat.length === 0) return { row };
    const first = mat.some((i) => !this.vectors.has(paths[i]));
    const starts = mat.map((i) => this.vectors.get(paths[i]) ?? startVector(ws[i].shape[1], i));
    const { stats, vectors } = await matrixStats(
      mat.map((i) => ws[i].ref),
      mat.map((i) => gs[i].ref),
      mat.map((i) => ds[i].ref),
      starts,
      first ? this.firstIterations : this.iterations,
    );
    for (const [k, i] of mat.entries()) this.vectors.set(paths[i], vectors[k]);
    this.fill(
      row,
      mat.map((i) => paths[i]),
      stats,
    );
    this.last = row;
    let warning: SaWarningRow | undefined;
    if (
      row.saMax !== undefined &&
      row.saMax > this.saThreshold &&
      (row.saPositive ?? 0) >= this.signThreshold &&
      step > this.warmup
    ) {
      const at = mat.findIndex((_, k) => stats[k].spectralAlignment === row.saMax);
      warning = {
        type: "sa-warning",
        step,
        saMax: row.saMax,
        matrix: paths[mat[at]],
        threshold: this.saThreshold,
        saPositive: row.saPositive ?? 0,
      };
    }
    return { row, warning };
  }

  private fill(row: MonitorRow, paths: string[], stats: MatrixStats[]): void {
    const col = (k: keyof MatrixStats) => stats.map((s) => s[k]);
    if (this.kinds.includes("spectral")) {
      const sa = col("spectralAlignment");
      row.sigma = byPath(paths, col("sigma"));
      row.sigmaMax = Math.max(...col("sigma"));
      row.spectralAlignment = byPath(paths, sa);
      row.saMax = Math.max(...sa);
      row.saMean = mean(sa);
      row.saPositive = sa.filter((a) => a > 0).length / sa.length;
    }
    if (this.kinds.includes("alignment")) {
      row.gradWeightCos = byPath(paths, col("gradWeightCos"));
      row.gradWeightCosMean = mean(col("gradWeightCos"));
    }
    if (this.kinds.includes("rank")) {
      const r = col("stableRank");
      row.stableRank = byPath(paths, r);
      row.stableRankMin = Math.min(...r);
      row.stableRankMean = mean(r);
    }
  }
}
