/**
 * SparseGPT: prune a layer and update its remaining weights so the layer's output on the
 * calibration inputs changes least (Optimal Brain Surgeon, solved column by column).
 *
 *   H = (2/N)·XᵀX (N calibration sequences); dead inputs (H_ii = 0): H_ii = 1, W[:, i] = 0;
 *   H_ii += 0.01·mean(diag H);  U = upper Cholesky factor of H⁻¹.
 *   For column blocks [i1, i2) of 128: mask = the ⌊rows·128·s⌋ lowest W²/diag(U)² of the block
 *   (computed from the block as updated so far); per column i: q = w with masked entries 0,
 *   err = (w − q)/U_ii, W[:, i:i2] −= err ⊗ U[i, i:i2]; after the block W[:, i2:] −= Err·U[i1:i2, i2:].
 *   N:M: at every M-th column of a block, each row prunes the N lowest W²/U_jj² of the next M
 *   columns (as updated so far).
 *
 * Paper: Frantar & Alistarh 2023, "SparseGPT: Massive Language Models Can Be Accurately Pruned
 * in One-Shot". Reference: IST-DASLab/sparsegpt sparsegpt.py `fasterprune` (as also vendored in
 * locuslab/wanda lib/sparsegpt.py), blocksize 128, percdamp 0.01.
 * Deviations: the block mask prunes exactly ⌊numel·s⌋ (the reference's `≤ threshold` prunes one
 * more per block; select.ts); the factorisation and the updates run on the host in float64
 * (hessian.ts, host-cholesky.ts; the reference runs them in float32 on the GPU), with JavaScript
 * loops — the column loop is sequential by nature and these layers are small; no quantisation
 * (GPTQ, quantize/gptq.ts, shares hessian.ts).
 */
import { numpy as np } from "@jax-js/jax";
import { OBS_BLOCK, OBS_DAMP, obsInverseFactor, spreadBlockError } from "./hessian.js";
import { lowestHost } from "./select.js";
import type { InputStats, PruneMethod, PruneSettings } from "./types.js";

export const SPARSEGPT_BLOCK = OBS_BLOCK;
export const SPARSEGPT_DAMP = OBS_DAMP;

/**
 * The SparseGPT update of W [rows, cols] (row-major float64, updated in place) from the Gram
 * matrix XᵀX of its inputs over `samples` sequences.
 */
export function sparsegptHost(
  w: Float64Array,
  rows: number,
  cols: number,
  gram: Float64Array,
  samples: number,
  { sparsity, nm }: PruneSettings,
  blockSize = SPARSEGPT_BLOCK,
  damp = SPARSEGPT_DAMP,
): void {
  const u = obsInverseFactor(w, rows, cols, gram, samples, damp);

  const pruned = new Uint8Array(rows * cols);
  for (let i1 = 0; i1 < cols; i1 += blockSize) {
    const i2 = Math.min(i1 + blockSize, cols);
    const count = i2 - i1;
    const err = new Float64Array(rows * count); // Err1, [rows, count]
    if (!nm) {
      const scores = new Float64Array(rows * count);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < count; c++) {
          const d = u[(i1 + c) * cols + i1 + c];
          scores[r * count + c] = w[r * cols + i1 + c] ** 2 / d ** 2;
        }
      }
      for (const idx of lowestHost(scores, Math.floor(scores.length * sparsity))) {
        pruned[Math.floor(idx / count) * cols + i1 + (idx % count)] = 1;
      }
    }
    for (let c = 0; c < count; c++) {
      const i = i1 + c;
      if (nm && c % nm[1] === 0) {
        const width = Math.min(nm[1], count - c);
        const scores = new Float64Array(width);
        for (let r = 0; r < rows; r++) {
          for (let j = 0; j < width; j++) {
            scores[j] = w[r * cols + i + j] ** 2 / u[(i + j) * cols + i + j] ** 2;
          }
          for (const j of lowestHost(scores, Math.min(nm[0], width))) pruned[r * cols + i + j] = 1;
        }
      }
      const d = u[i * cols + i];
      for (let r = 0; r < rows; r++) {
        if (!pruned[r * cols + i]) continue; // q = w: no error to spread
        const e = w[r * cols + i] / d;
        err[r * count + c] = e;
        for (let j = i + 1; j < i2; j++) w[r * cols + j] -= e * u[i * cols + j];
        w[r * cols + i] = 0;
      }
    }
    // The block's errors, spread over the columns after it.
    spreadBlockError(w, rows, cols, err, i1, i2, u);
  }
}

export const sparsegpt: PruneMethod = {
  name: "sparsegpt",
  description: "OBS weight update through a Cholesky factor of H⁻¹ (Frantar & Alistarh 2023)",
  needs: "gram",
  nm: true,
  prune(weight, stats: InputStats | undefined, settings) {
    const [rows, cols] = weight.shape;
    if (!stats?.gram) {
      weight.dispose();
      throw new Error("sparsegpt needs the calibration Gram matrix XᵀX");
    }
    const w = Float64Array.from(weight.dataSync() as Float32Array);
    sparsegptHost(w, rows, cols, stats.gram, stats.samples, settings);
    return np.array(Float32Array.from(w), { shape: [rows, cols], dtype: np.float32 });
  },
};
