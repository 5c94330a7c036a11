/**
 * Per-row losses on the device, for the mixing rules that read them (one number per batch row
 * comes back to the host, never per-token values):
 *
 * - `makeRowLoss`: mean next-token cross-entropy of each row, [B] (ODM's reward);
 * - `makeRowExcess`: mean over each row's tokens of max(ℓ_θ − ℓ_ref, 0), [B] (DoReMi's clipped
 *   per-token excess loss; the reference may have another shape than the trained model).
 *
 * The label's log-probability is picked with a one-hot product, as nn/loss.ts does.
 */
import { jit, nn, numpy as np } from "@jax-js/jax";
import { type LlamaParams, llamaForward } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";

/** Token losses [B, T] of `logits` [B, T, V] at `targets` [B, T]. Consumes both. */
function tokenLosses(logits: np.Array, targets: np.Array): np.Array {
  const classes = logits.shape[2]!;
  const logp = nn.logSoftmax(logits, -1);
  return logp.mul(nn.oneHot(targets, classes)).sum(-1).mul(-1);
}

export type RowFn<A extends unknown[]> = ((...args: A) => np.Array) & { dispose(): void };

/** (params, inputs, targets) → [B] mean loss per row. Consumes its arguments. */
export const makeRowLoss = (config: LlamaConfig) =>
  jit((p: LlamaParams, x: np.Array, y: np.Array) =>
    tokenLosses(llamaForward(p, x, config), y).mean(-1),
  ) as unknown as RowFn<[LlamaParams, np.Array, np.Array]>;

/** (params, reference, inputs, targets) → [B] mean clipped excess loss per row. Consumes all. */
export const makeRowExcess = (config: LlamaConfig, refConfig: LlamaConfig) =>
  jit((p: LlamaParams, ref: LlamaParams, x: np.Array, y: np.Array) => {
    const mine = tokenLosses(llamaForward(p, x.ref, config), y.ref);
    const theirs = tokenLosses(llamaForward(ref, x, refConfig), y);
    return np.maximum(mine.sub(theirs), 0).mean(-1);
  }) as unknown as RowFn<[LlamaParams, LlamaParams, np.Array, np.Array]>;
