/**
 * LQ-LoRA's low-rank plus quantised decomposition, by alternating minimisation:
 *
 *   L₀ = 0;  for t = 1 … T:  Q_t = RTN(W − L_{t−1}),  L_t = (W − Q_t)_r  (truncated SVD)
 *
 * keeping the (Q_t, L_t) with the smallest ‖W − Q_t − L_t‖_F (the iteration is not monotone:
 * quantisation is not a projection onto a convex set). The first round is plain LQER (D = I).
 * The rank rule reads the singular values of W − RTN(W). Stored as Q plus B = U_r Σ_r^½,
 * A = Σ_r^½ V_rᵀ.
 *
 * Paper: Guo, Greengard, Xing, Kim 2024, "LQ-LoRA: Low-rank Plus Quantized Matrix Decomposition
 * for Efficient Language Model Finetuning" (ICLR), Algorithm 1.
 * Deviations: T = 5 rounds by default (`iterations`), RTN on GPTQ's grid (./quantizer.ts)
 * instead of NormalFloat quantisation,
 * no ILP bit allocation and no Fisher-weighted variant.
 */
import { numpy as np } from "@jax-js/jax";
import { svdPlan } from "./factors.js";
import type { CompressMethod, LayerFactors } from "./types.js";

/** Default alternating rounds. */
export const LQ_LORA_ITERATIONS = 5;

/** ‖x‖_F² of a float32/float64 array (consumed). */
const sqNorm = (x: np.Array) => Number(np.square(x).sum().dataSync()[0]);

export const lqLora: CompressMethod = {
  name: "lq-lora",
  description:
    "LQ-LoRA: alternate W ≈ RTN(W − L) + L with L a rank-r SVD, best round kept (Guo et al. 2024)",
  needs: "none",
  keepsDense: true,
  prepare(weight, { quantize, iterations = LQ_LORA_ITERATIONS, module }) {
    if (!quantize) {
      weight.dispose();
      throw new Error(`lq-lora needs a quantizer (${module})`);
    }
    const first = quantize(weight.ref);
    const firstPlan = svdPlan(weight.ref.sub(first.value.ref).astype(np.float64), {
      quantized: first,
    });
    let spent = false;
    return {
      spectrum: firstPlan.spectrum,
      build(rank: number): LayerFactors {
        if (spent) throw new Error("lq-lora: build was already called");
        spent = true;
        let best = firstPlan.build(rank);
        firstPlan.dispose();
        const error = (f: LayerFactors) =>
          sqNorm(weight.ref.sub(f.dense!.ref).sub(np.matmul(f.b.ref, f.a.ref)));
        let bestError = error(best);
        let low = np.matmul(best.b.ref, best.a.ref);
        for (let t = 1; t < iterations; t++) {
          const target = weight.ref.sub(low);
          const q = quantize(target);
          target.dispose();
          const plan = svdPlan(weight.ref.sub(q.value.ref).astype(np.float64), { quantized: q });
          const next = plan.build(rank);
          plan.dispose();
          const e = error(next);
          low = np.matmul(next.b.ref, next.a.ref);
          if (e < bestError) {
            for (const a of [best.a, best.b, best.dense!]) a.dispose();
            best = next;
            bestError = e;
          } else {
            for (const a of [next.a, next.b, next.dense!]) a.dispose();
          }
        }
        low.dispose();
        return best;
      },
      dispose() {
        if (!spent) firstPlan.dispose();
        weight.dispose();
      },
    };
  },
};
