/**
 * A fine-tuning run's checkpoint: the adapter as it trains, its optimizer state and trainer.json
 * (whose configuration holds the base's path and SHA-256s), written and swapped in atomically
 * with a manifest like a training checkpoint (checkpoint.ts):
 *
 *   <out>/checkpoint/adapter_config.json, adapter_model.safetensors   the adapter (PEFT layout)
 *   <out>/checkpoint/optimizer.safetensors                            optimizer state (adapter only)
 *   <out>/checkpoint/residual.safetensors, initial.safetensors        PiSSA/OLoRA/LoRA-GA only: the
 *                                                                     residual base tensors and the
 *                                                                     initial factors
 *   <out>/checkpoint/trainer.json, manifest.json
 *
 * and, beside it, `<out>/adapter/`, the PEFT folder users load: for inits that changed the base,
 * converted to plain LoRA of rank 2r over the original base (src/peft/convert.ts), as PEFT's
 * save_pretrained(path_initial_model_for_weight_conversion=...) does.
 *
 * Why the residual is stored rather than recomputed: a resumed run must see the very same bits,
 * and storing it costs only the targeted matrices.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { numpy as np } from "@jax-js/jax";
import { UsageError } from "../engine/errors.js";
import * as tree from "../engine/tree.js";
import { loadTree, saveTree } from "../io/state-file.js";
import { describeLeaves, nonFiniteLeaves } from "../nn/finite.js";
import {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  type AdapterParams,
  type AdapterPlan,
  type AnyConfig,
  type AnyLoadedAdapter,
  type AnyPlan,
  convertToLora,
  type LoraConfig,
  loadAnyAdapter,
  saveAnyAdapter,
} from "../peft/index.js";
import { ADAPTER_DIR } from "./adapted-model.js";
import {
  checkpointPath,
  hasCheckpoint,
  type TrainerMeta,
  writeCheckpointFolder,
} from "./checkpoint.js";
import { verifyManifest } from "./manifest.js";

const RESIDUAL_FILE = "residual.safetensors";
const INITIAL_FILE = "initial.safetensors";

/** What a fine-tuning checkpoint holds besides trainer.json. */
export interface AdapterState {
  /** LoRA's config or a registered adapter type's (src/peft/types/). */
  config: AnyConfig;
  plan: AnyPlan;
  params: AdapterParams;
  optState: tree.Tree<any>;
  /** Residual base tensors and initial factors (PiSSA, OLoRA, LoRA-GA); else null. */
  residual: Record<string, np.Array> | null;
  initial: AdapterParams | null;
}

/** Write `<out>/adapter/`: the PEFT folder of the adapter over the original base. Borrows. */
export async function writePeftAdapter(out: string, s: AdapterState): Promise<void> {
  const dir = join(out, ADAPTER_DIR);
  const exported = "type" in s.plan ? s.plan.type.exported : undefined;
  if (exported) {
    // A type whose folder differs from its training form (AdaLoRA: rank_pattern, sliced tensors).
    const e = exported(s.config, s.params, (s.optState as { adapter: unknown }).adapter);
    try {
      await saveAnyAdapter(dir, { config: { ...e.config, inferenceMode: true }, params: e.params });
    } finally {
      tree.dispose(e.params);
    }
    return;
  }
  if (s.initial === null) {
    await saveAnyAdapter(dir, { config: { ...s.config, inferenceMode: true }, params: s.params });
    return;
  }
  // Only LoRA-family inits that change the base have initial factors.
  const converted = convertToLora(
    { config: s.config as LoraConfig, params: s.params },
    s.initial,
    s.plan as AdapterPlan,
  );
  try {
    await saveAnyAdapter(dir, converted);
  } finally {
    tree.dispose(converted.params);
  }
}

/** Save the checkpoint, then `<out>/adapter/`. Borrows the arrays; refuses non-finite ones. */
export async function saveAdapterCheckpoint(
  out: string,
  meta: TrainerMeta,
  s: AdapterState,
): Promise<void> {
  const bad = await nonFiniteLeaves(s.params);
  if (bad.length > 0) {
    throw new Error(
      `refusing to write a checkpoint with a non-finite adapter (NaN or infinity) in ${describeLeaves(bad)}`,
    );
  }
  const files = [ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, "optimizer.safetensors"];
  if (s.residual) files.push(RESIDUAL_FILE, INITIAL_FILE);
  files.push("trainer.json");
  await writeCheckpointFolder(out, meta, files, async (dir) => {
    await saveAnyAdapter(dir, { config: s.config, params: s.params });
    await saveTree(join(dir, "optimizer.safetensors"), s.optState);
    if (s.residual && s.initial) {
      await saveTree(join(dir, RESIDUAL_FILE), s.residual);
      await saveTree(join(dir, INITIAL_FILE), s.initial);
    }
  });
  await writePeftAdapter(out, s);
}

/**
 * `state` with every node keyed by adapter tensors (an optimizer's moments, per-tensor masks) in
 * `params`' key order: optimizers pair state with parameters leaf by leaf, so a checkpoint whose
 * state was built in another order must be matched by path, never by position. Borrows.
 */
export function alignStateToParams(state: tree.Tree<any>, params: AdapterParams): tree.Tree<any> {
  const order = Object.keys(params);
  const align = (node: tree.Tree<any>): tree.Tree<any> => {
    if (Array.isArray(node)) return node.map(align);
    if (typeof node !== "object" || node === null || tree.isArray(node)) return node;
    const keys = Object.keys(node);
    const out: Record<string, tree.Tree<any>> = {};
    if (keys.length > 0 && keys.every((k) => Object.hasOwn(params, k)))
      for (const k of order) {
        if (Object.hasOwn(node, k)) out[k] = align(node[k]);
      }
    else for (const k of keys) out[k] = align(node[k]);
    return out;
  };
  return align(state);
}

/** Load a fine-tuning checkpoint, verified against its manifest. The caller owns the arrays. */
export async function loadAdapterCheckpoint(
  out: string,
  baseShapes: Record<string, number[]>,
): Promise<AdapterState> {
  const dir = checkpointPath(out);
  if (!hasCheckpoint(out)) throw new UsageError(`no checkpoint in ${out} (expected ${dir})`);
  verifyManifest(dir);
  const owned: tree.Tree<any>[] = [];
  try {
    const adapter: AnyLoadedAdapter = await loadAnyAdapter(dir, baseShapes);
    owned.push(adapter.params);
    const optState = alignStateToParams(
      (await loadTree(join(dir, "optimizer.safetensors"))).tree,
      adapter.params,
    );
    owned.push(optState);
    let residual: Record<string, np.Array> | null = null;
    let initial: AdapterParams | null = null;
    if (existsSync(join(dir, RESIDUAL_FILE))) {
      residual = (await loadTree(join(dir, RESIDUAL_FILE))).tree as Record<string, np.Array>;
      owned.push(residual);
      initial = (await loadTree(join(dir, INITIAL_FILE))).tree as AdapterParams;
    }
    return {
      config: adapter.config,
      plan: adapter.plan,
      params: adapter.params,
      optState,
      residual,
      initial,
    };
  } catch (error) {
    tree.dispose(owned);
    if (error instanceof UsageError) throw error;
    throw new UsageError(`corrupt checkpoint: ${dir}: ${(error as Error).message.split("\n")[0]}`);
  }
}
