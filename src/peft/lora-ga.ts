/**
 * LoRA-GA (Wang et al. 2024, "LoRA-GA: Low-Rank Adaptation with Gradient Approximation";
 * authors' code Outsider565/LoRA-GA), as PEFT's LoraLayer.lora_ga_init and preprocess_loraga
 * (huggingface/peft src/peft/tuners/lora/layer.py, loraga.py).
 *
 * Rule: G = the gradient of the loss w.r.t. W averaged over the sampled batches (the caller
 * accumulates it; PEFT divides by the number of backward passes). G ≈ U·diag(S)·Vᵀ, keep 2r
 * triplets; by `direction`:
 *   "ArB2r" (default)  A = Vᵀ[:r],        B = U[:, r:2r]·diag(S[r:2r])
 *   "A2rBr"            A = Vᵀ[r:2r],      B = U[:, :r]·diag(S[:r])
 *   "ArBr"             A = Vᵀ[1:2r:2],    B = U[:, 0:2r:2]·diag(S[0:2r:2])
 *   "random"           a random r of the 2r indices for both
 * then by `scale`: "stable" B ·= out^¼/√γ; "weight_svd" B ·= σ₁(W)/S_B[0]; "gd_scale" A, B /= s;
 * "unit" nothing. The base becomes W_res = W − s·B·A.
 *
 * Deviations: the SVD of G is exact (src/linalg) where PEFT uses torch.svd_lowrank(q = 4r,
 * niter = 4), so results agree up to that approximation and singular-vector signs; σ₁(W) for
 * "weight_svd" is exact too; "random" draws with jax-js's generator. 2r must not exceed
 * min(out, in) (PEFT would fail on the shapes).
 */
import { numpy as np, random } from "@jax-js/jax";
import { UsageError } from "../engine/errors.js";
import * as tree from "../engine/tree.js";
import { svd } from "../linalg/svd.js";
import { type LlamaParams, makeLossAndGrad } from "../nn/llama.js";
import type { LlamaConfig } from "../nn/llama-config.js";
import type { LoraGaConfig } from "./config.js";
import type { AdapterPlan, ModuleSpec } from "./match.js";

/** The r indices of the 2r singular triplets that go to A and to B. */
function indices(
  direction: LoraGaConfig["direction"],
  r: number,
  seed: number,
): { forA: np.Array; forB: np.Array } {
  const range = (start: number, step: number) =>
    np.arange(start, start + step * r, step, { dtype: np.int32 });
  if (direction === "ArB2r") return { forA: range(0, 1), forB: range(r, 1) };
  if (direction === "A2rBr") return { forA: range(r, 1), forB: range(0, 1) };
  if (direction === "ArBr") return { forA: range(1, 2), forB: range(0, 2) };
  const picked = random
    .permutation(random.key(seed), 2 * r)
    .slice([0, r])
    .astype(np.int32);
  return { forA: picked.ref, forB: picked };
}

/** LoRA-GA factors and residual of one linear weight. Borrows `w` and `grad`. */
export function loraGaInit(
  m: ModuleSpec,
  w: np.Array,
  grad: np.Array,
  options: LoraGaConfig,
  seed = 0,
): { a: np.Array; b: np.Array; residual: np.Array } {
  const r = m.r;
  const [out, inp] = m.shape;
  if (grad.shape.length !== 2 || grad.shape[0] !== out || grad.shape[1] !== inp) {
    throw new UsageError(
      `LoRA-GA: the gradient of ${m.name} has shape [${grad.shape}], expected [${out},${inp}]`,
    );
  }
  if (2 * r > Math.min(out, inp)) {
    throw new UsageError(
      `LoRA-GA needs 2r ≤ min(out, in); ${m.name} is ${out}×${inp} and r is ${r}`,
    );
  }
  const { u, s, vt } = svd(grad.ref.astype(np.float32));
  const { forA, forB } = indices(options.direction, r, seed);
  let a = np.take(vt, forA, 0);
  const sB = np.take(s, forB.ref, 0);
  let b = np.take(u, forB, 1).mul(sB.ref.reshape([1, r]));
  if (options.scale === "stable") {
    b = b.mul(out ** 0.25 / Math.sqrt(options.stableGamma));
  } else if (options.scale === "weight_svd") {
    const sw = svd(w.ref).s;
    const ratio =
      (sw.slice([0, 1]).dataSync() as Float32Array)[0] /
      (sB.ref.slice([0, 1]).dataSync() as Float32Array)[0];
    if (Number.isFinite(ratio) && ratio > 0) b = b.mul(ratio);
  } else if (options.scale === "gd_scale") {
    a = a.mul(1 / m.scaling);
    b = b.mul(1 / m.scaling);
  }
  sB.dispose();
  const residual = w.ref.sub(np.matmul(b.ref, a.ref).mul(m.scaling));
  return { a, b, residual };
}

/**
 * LoRA-GA's gradient estimate (PEFT's estimate_gradients): the mean over `batches` of the
 * gradient of the base model's loss with respect to each adapted module's weight, keyed by
 * weight name — what `createAdapter(..., { gradients })` takes. Borrows `base`; consumes the
 * batches.
 */
export function estimateGradients(
  base: LlamaParams,
  config: LlamaConfig,
  plan: { modules: Pick<AdapterPlan["modules"][number], "name" | "kind">[] },
  batches: { inputs: np.Array; targets: np.Array }[],
): Record<string, np.Array> {
  if (batches.length === 0)
    throw new UsageError("LoRA-GA needs at least one batch to estimate gradients");
  const names = plan.modules.filter((m) => m.kind === "linear").map((m) => `${m.name}.weight`);
  const lossAndGrad = makeLossAndGrad(config);
  const sums: Record<string, np.Array> = {};
  try {
    for (const { inputs, targets } of batches) {
      const [loss, grads] = lossAndGrad(tree.ref(base), inputs, targets);
      loss.dispose();
      for (const [k, g] of Object.entries(grads)) {
        if (!names.includes(k)) g.dispose();
        else sums[k] = sums[k] === undefined ? g : sums[k].add(g);
      }
    }
  } finally {
    lossAndGrad.dispose();
  }
  return Object.fromEntries(names.map((k) => [k, sums[k].mul(1 / batches.length)]));
}
