/**
 * A `model+adapter` merge source (mergekit's LoRA syntax): the base source streamed as before,
 * with the PEFT adapter folder merged into each tensor as it is read — W' = W + ΔW of that
 * module alone (peft/merge.ts safeMerge on a one-module plan: LoRA, DoRA and every registered
 * type, the same arithmetic as merging the whole adapter), a modules_to_save tensor replaced by
 * the adapter's copy, every other tensor passed through. So the merged model is never formed.
 *
 * Deviation: the adapter's own tensors are loaded whole when the source opens (peft's loaders
 * read whole folders); they are the size of its rank (plus any modules_to_save copies), small
 * beside the base, which stays streamed.
 */
import { existsSync, statSync } from "node:fs";
import { numpy as np } from "@jax-js/jax";
import { UsageError } from "../../engine/errors.js";
import * as tree from "../../engine/tree.js";
import { disposeMergeState, safeMerge } from "../../peft/merge.js";
import { loadAnyAdapter } from "../../peft/types/any.js";
import type { ModelSource } from "./sources.js";

/** `inner` with the adapter folder `dir` merged in, tensor by tensor. Takes over `inner`. */
export async function withAdapter(
  inner: ModelSource,
  dir: string,
  ref: string,
): Promise<ModelSource> {
  let adapter: Awaited<ReturnType<typeof loadAnyAdapter>>;
  try {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new UsageError(`no such adapter folder: ${dir}`);
    }
    adapter = await loadAnyAdapter(dir, { ...inner.shapes, ...inner.projections });
  } catch (error) {
    inner.close();
    if (error instanceof UsageError) throw new UsageError(`model ${ref}: ${error.message}`);
    throw error;
  }
  const { plan, params } = adapter;
  const modules = new Map(plan.modules.map((m) => [`${m.name}.weight`, m]));
  const saved = new Set(plan.saved);
  return {
    ...inner,
    ref,
    async read(name) {
      if (saved.has(name)) {
        const copy = params[name]!.ref;
        return copy.dtype === np.float32 ? copy : copy.astype(np.float32);
      }
      const base = await inner.read(name);
      const module = modules.get(name);
      if (module === undefined) return base;
      const one = { ...plan, modules: [module], saved: [] } as typeof plan;
      try {
        const merged = await safeMerge({ [name]: base }, params, one);
        disposeMergeState(merged.state);
        return merged.params[name]!;
      } finally {
        base.dispose(); // safeMerge borrows
      }
    },
    close() {
      tree.dispose(params);
      inner.close();
    },
  };
}
