/**
 * EVA's layer inputs: the input rows [tokens, in] of every targeted linear module of the base
 * over a few batches, what PEFT's get_eva_state_dict collects with forward hooks; here
 * llamaForward's capture callback (src/nn/llama.ts) hands them over.
 *
 * Deviation: a module's inputs are every position of every batch (PEFT drops padding tokens;
 * Rankwise's batches have none).
 */
import { numpy as np } from "@jax-js/jax";
import * as tree from "../engine/tree.js";
import { type LlamaParams, llamaForward } from "../nn/llama.js";
import type { LlamaConfig } from "../nn/llama-config.js";
import { type LoraConfig, planAdapter, shapesOf } from "../peft/index.js";

/**
 * Inputs of the linear modules `lora` targets in `base` (borrowed) over `batches` (consumed):
 * module name → [tokens, in]. The caller owns the result.
 */
export function evaLayerInputs(
  base: LlamaParams,
  config: LlamaConfig,
  lora: LoraConfig,
  batches: { inputs: np.Array; targets: np.Array }[],
): Record<string, np.Array> {
  const wanted = new Set(
    planAdapter(lora, shapesOf(base))
      .modules.filter((m) => m.kind === "linear")
      .map((m) => m.name),
  );
  const seen: Record<string, np.Array[]> = {};
  for (const { inputs, targets } of batches) {
    targets.dispose();
    const logits = llamaForward(tree.share(base), inputs, config, (module, input) => {
      if (!wanted.has(module)) return input.dispose();
      seen[module] ??= [];
      seen[module].push(input);
    });
    logits.dispose();
  }
  return Object.fromEntries(
    Object.entries(seen).map(([k, parts]) => [k, np.concatenate(parts, 0)]),
  );
}
