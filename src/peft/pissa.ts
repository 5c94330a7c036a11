/**
 * PiSSA (Meng et al. 2024, "PiSSA: Principal Singular Values and Singular Vectors Adaptation of
 * Large Language Models"), as PEFT's LoraLayer.pissa_init (huggingface/peft
 * src/peft/tuners/lora/layer.py).
 *
 * Rule: W = U·diag(S)·Vᵀ; Sᵣ = S[:r] / s; A = diag(√Sᵣ)·Vᵀ[:r], B = U[:, :r]·diag(√Sᵣ); the base
 * becomes the residual W_res = W − s·B·A, so W_res + s·B·A = W at the start.
 * "pissa" uses the exact SVD (src/linalg/svd.ts, float64 on the host: jax-js's own SVD loses
 * orthogonality); "pissa_niter_N" the randomized SVD with N subspace iterations and, as PEFT's
 * `svd_lowrank(W, q=r, niter=N)`, no oversampling (src/linalg/randomized-svd.ts).
 *
 * Deviations: singular vectors are sign-normalised (src/linalg), so A and B may differ from
 * PyTorch's by the sign of a singular pair (B·A does not); the randomized sketch uses jax-js's
 * generator.
 */
import { numpy as np } from "@jax-js/jax";
import { randomizedSvd } from "../linalg/randomized-svd.js";
import { svd } from "../linalg/svd.js";
import { checkRank, type ModuleSpec } from "./match.js";

/** The PiSSA iteration count of an init name ("pissa" → null, "pissa_niter_4" → 4). */
export function pissaIterations(init: string): number | null {
  if (init === "pissa") return null;
  const m = /^pissa_niter_(\d+)$/.exec(init);
  if (!m) throw new RangeError(`not a PiSSA init: ${init}`);
  return Number(m[1]);
}

/** PiSSA factors and residual of one linear weight. Borrows `w`. */
export function pissaInit(
  m: ModuleSpec,
  w: np.Array,
  niter: number | null,
  seed = 0,
): { a: np.Array; b: np.Array; residual: np.Array } {
  const r = m.r;
  checkRank(m, "PiSSA");
  const { u, s, vt } =
    niter === null
      ? svd(w.ref)
      : randomizedSvd(w.ref, r, { powerIters: niter, oversample: 0, seed });
  const root = np.sqrt(s.slice([0, r]).mul(1 / m.scaling));
  const a = vt.slice([0, r]).mul(root.ref.reshape([r, 1]));
  const b = u.slice([], [0, r]).mul(root.reshape([1, r]));
  const residual = w.ref.sub(np.matmul(b.ref, a.ref).mul(m.scaling));
  return { a, b, residual };
}
