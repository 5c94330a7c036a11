/**
 * Per-matrix training statistics, compiled over all matrices at once and read with one transfer:
 *   σ₁           top singular value (power iteration, warm-started: power-iteration.ts)
 *   stable rank  ‖W‖²_F / σ₁²  (1 ≤ r ≤ rank W; Rudelson & Vershynin 2007)
 *   spectral alignment of the update ΔW with W's top singular pair,
 *                a = u₁ᵀ·ΔW·v₁ / ‖ΔW‖_F  ∈ [−1, 1]
 *                u₁ᵀΔWv₁ is the first-order change of σ₁ (Weyl/Stewart), so a is the share of
 *                the step that inflates (a > 0) or shrinks σ₁; a ≈ 1 means the step is the
 *                rank-one direction u₁v₁ᵀ itself, the run-away growth of σ₁ that the spectral
 *                alignment paper (Qiu et al. 2025) ties to loss explosions
 *   gradient–weight alignment  cos(G, W) = ⟨G, W⟩ / (‖G‖‖W‖)
 *   gradient norm ‖G‖_F and weight norm ‖W‖_F
 * Deviation from the paper: it measures the alignment of each layer's *inputs* with v₁ (the sign
 * diversity of x·v₁ over a batch); the trainer's compiled loss does not expose activations, so
 * here the quantity is the update's alignment with (u₁, v₁), the mechanism its analysis gives for
 * the growth of σ₁. Cost per matrix: 2·(k+1) matrix–vector products and a few reductions.
 */
import { jit, numpy as np } from "@jax-js/jax";
import { norm, TINY, topSingular } from "../../linalg/power-iteration.js";

/** The statistics of one matrix, in this order in the compiled output. */
export const MATRIX_STATS = [
  "sigma",
  "stableRank",
  "spectralAlignment",
  "gradWeightCos",
  "gradNorm",
  "weightNorm",
] as const;
export type MatrixStatName = (typeof MATRIX_STATS)[number];
export type MatrixStats = Record<MatrixStatName, number>;

type Compiled = (w: np.Array[], g: np.Array[], d: np.Array[], v: np.Array[]) => np.Array[];

function build(iterations: number): Compiled {
  return jit((ws: np.Array[], gs: np.Array[], ds: np.Array[], vs: np.Array[]) => {
    const rows: np.Array[] = [];
    const next: np.Array[] = [];
    ws.forEach((w, i) => {
      const { sigma, u, v } = topSingular(w, vs[i], iterations);
      const g = gs[i];
      const d = ds[i];
      const fro = norm(w.ref);
      const stableRank = fro.ref.mul(fro.ref).div(sigma.ref.mul(sigma.ref).add(TINY));
      // u₁ᵀ·ΔW·v₁ as Σ (u₁ v₁ᵀ ⊙ ΔW): no 1×1 matmul needed.
      const along = np.matmul(u, v.ref.transpose()).mul(d.ref).sum();
      const sa = along.div(norm(d).add(TINY));
      const gNorm = norm(g.ref);
      const cos = g.mul(w).sum().div(gNorm.ref.mul(fro.ref).add(TINY));
      rows.push(np.stack([sigma, stableRank, sa, cos, gNorm, fro]));
      next.push(v.reshape([-1]));
    });
    // One table and one vector of all the new start vectors: two reads in all.
    return [np.stack(rows), np.concatenate(next)];
  }) as unknown as Compiled;
}

const compiled = new Map<number, Compiled>();

/**
 * The statistics of each matrix `w[i]` with its gradient `g[i]` and update `d[i]`, from the
 * power-iteration start vectors `v[i]` (host, length = columns of `w[i]`, unit norm). Consumes
 * the arrays. Returns the stats and the new start vectors (host: nothing stays on the device).
 */
export async function matrixStats(
  w: np.Array[],
  g: np.Array[],
  d: np.Array[],
  v: Float32Array[],
  iterations: number,
): Promise<{ stats: MatrixStats[]; vectors: Float32Array[] }> {
  if (w.length === 0) return { stats: [], vectors: [] };
  let fn = compiled.get(iterations);
  if (fn === undefined) {
    fn = build(iterations);
    compiled.set(iterations, fn);
  }
  const starts = v.map((x) => np.array(x, { shape: [x.length, 1] }));
  const [table, joined] = fn(w, g, d, starts);
  const flat = (await table.data()) as Float32Array;
  const all = (await joined.data()) as Float32Array;
  const k = MATRIX_STATS.length;
  const stats = w.map((_, i) => {
    const row = {} as MatrixStats;
    MATRIX_STATS.forEach((name, j) => {
      row[name] = flat[i * k + j];
    });
    return row;
  });
  let offset = 0;
  const vectors = v.map((x) => {
    const out = all.slice(offset, offset + x.length);
    offset += x.length;
    return out;
  });
  return { stats, vectors };
}
