/**
 * OLoRA (Büyükakyüz 2024, "OLoRA: Orthonormal Low-Rank Adaptation of Large Language Models"), as
 * PEFT's LoraLayer.olora_init (huggingface/peft src/peft/tuners/lora/layer.py).
 *
 * Rule: Q, R = qr(W) (reduced); A = R[:r], B = Q[:, :r]; the base becomes W_res = W − s·B·A
 * (PEFT subtracts s·B·A without dividing the factors by s).
 *
 * Deviation: src/linalg's QR makes diag(R) ≥ 0 (LAPACK's may be negative), so A and B may differ
 * from PyTorch's by the sign of a row/column pair; B·A is the same.
 */
import { numpy as np } from "@jax-js/jax";
import { qr } from "../linalg/qr.js";
import { checkRank, type ModuleSpec } from "./match.js";

/** OLoRA factors and residual of one linear weight. Borrows `w`. */
export function oloraInit(
  m: ModuleSpec,
  w: np.Array,
): { a: np.Array; b: np.Array; residual: np.Array } {
  checkRank(m, "OLoRA");
  const { q, r } = qr(w.ref);
  const a = r.slice([0, m.r]);
  const b = q.slice([], [0, m.r]);
  const residual = w.ref.sub(np.matmul(b.ref, a.ref).mul(m.scaling));
  return { a, b, residual };
}
