/**
 * What a compression buys, measured: the bytes a model's parameters take (as stored: float32
 * factors count r·(out + in) numbers) and the wall time of one jit-compiled forward pass.
 *
 * Forward time: llamaForward under jit on a [batch, seqLen] block of token ids, one untimed
 * call to compile and warm up, then the median of `repeats` timed calls, each read back to the
 * host (so the time includes the whole computation, not just its dispatch).
 */
import { jit, numpy as np } from "@jax-js/jax";
import * as tree from "../../engine/tree.js";
import { type LlamaParams, llamaForward } from "../../nn/llama.js";
import type { LlamaConfig } from "../../nn/llama-config.js";

/** Bytes of every parameter (its dtype's size × elements). Borrows. */
export const modelBytes = (params: LlamaParams): number =>
  Object.values(params).reduce((n, a) => n + tree.arrayBytes(a), 0);

/** A forward pass's timing. */
export interface ForwardTiming {
  batch: number;
  seqLen: number;
  repeats: number;
  /** Median wall time of one forward pass, in milliseconds. */
  medianMs: number;
}

/** Time the jit'ed forward pass (see the file header). Borrows `params`. */
export function forwardTime(
  params: LlamaParams,
  config: LlamaConfig,
  { batch = 1, seqLen = config.max_position_embeddings, repeats = 5 } = {},
): ForwardTiming {
  const forward = jit((p: LlamaParams, tokens: np.Array) => llamaForward(p, tokens, config));
  const ids = Int32Array.from({ length: batch * seqLen }, (_, i) => (i * 7919) % config.vocab_size);
  const run = () => {
    const tokens = np.array(ids, { shape: [batch, seqLen], dtype: np.int32 });
    forward(tree.ref(params), tokens).dataSync();
  };
  try {
    run();
    const times: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const start = performance.now();
      run();
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    return { batch, seqLen, repeats, medianMs: times[Math.floor(repeats / 2)]! };
  } finally {
    forward.dispose();
  }
}
