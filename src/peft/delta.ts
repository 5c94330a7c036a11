/**
 * Any adapter as its weight update per module: ΔW = W_adapted − W in the base weight's layout
 * ([out, in] for a Linear, [vocab, dim] for the token embedding), the common ground of
 * `adapter convert` (→ LoRA by truncated SVD, ./extract.ts) and `adapter combine`
 * (./combine/). An adapter type plugs in by registering a {@link DeltaReader} for its
 * `peft_type`; LoRA (with rsLoRA, DoRA and every LoRA initialisation) is built in
 * (./delta-lora.ts).
 *
 * Rule: ΔW is what merging the adapter adds to the base (src/peft/merge.ts for LoRA), so
 * merge(base, convert(adapter)) = merge(base, adapter) up to the conversion's truncation.
 * Types whose ΔW depends on the base weight (DoRA: (m/‖W + sBA‖)·(W + sBA) − W) say so with
 * `needsBase`; types whose ΔW is exactly a product L·R give the factors through `lowRank`
 * (scaling folded into L), which `combine --method cat` needs.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { numpy as np } from "@jax-js/jax";
import { UsageError } from "../engine/errors.js";
import { readLoraDelta } from "./delta-lora.js";

/** One module an adapter changes. */
export interface DeltaModule {
  /** Module name, e.g. "model.layers.0.self_attn.q_proj". */
  name: string;
  kind: "linear" | "embedding";
  /** The base weight's shape: [out, in], or [vocab, dim] for the embedding. */
  shape: [number, number];
  /** The adapter's own rank for this module (its nominal rank where ΔW is not low-rank). */
  rank: number;
}

/** Exact factors of a module's update: ΔW = left·right, left [shape0, r], right [r, shape1]. */
export interface LowRank {
  left: np.Array;
  right: np.Array;
}

/** An adapter seen as its per-module updates. It owns its tensors until `dispose`. */
export interface AdapterDelta {
  /** The adapter type in words, for messages ("LoRA", "DoRA", ...). */
  type: string;
  /** The folder it was read from, for messages. */
  source: string;
  /** The config's base_model_name_or_path, when recorded. */
  baseModel: string | null;
  modules: DeltaModule[];
  /** Whether `delta` needs the module's base weight. */
  needsBase: boolean;
  /** ΔW of module `name` (a new array). `base` is that module's base weight, borrowed. */
  delta(name: string, base?: np.Array): np.Array;
  /** Exact factors of ΔW (new arrays), or undefined where ΔW is not a plain product. */
  lowRank(name: string): LowRank | undefined;
  /** Whether `lowRank` gives factors for every module (`combine --method cat` needs it). */
  factored: boolean;
  /** Base tensors the adapter replaces in full (PEFT's modules_to_save), HF name → tensor. */
  saved: Record<string, np.Array>;
  /** The modules_to_save names of the config (for a converted adapter's config). */
  modulesToSave: string[] | null;
  /** Free every tensor it holds. */
  dispose(): void;
}

/**
 * Reads an adapter folder of one `peft_type`. `config` is the parsed adapter_config.json;
 * `baseShapes` (HF name → shape) when a base model was given, else the reader infers what it
 * needs from the folder.
 */
export type DeltaReader = (
  dir: string,
  config: Record<string, unknown>,
  baseShapes?: Record<string, number[]>,
) => Promise<AdapterDelta>;

const READERS = new Map<string, DeltaReader>([["LORA", readLoraDelta]]);

/** Make adapters of `peftType` readable by {@link readAdapterDelta} (replaces an earlier one). */
export function registerDeltaReader(peftType: string, reader: DeltaReader): void {
  READERS.set(peftType, reader);
}

/** The peft_type values {@link readAdapterDelta} reads. */
export const deltaTypes = (): string[] => [...READERS.keys()];

/** Read a PEFT adapter folder of any registered type as its per-module updates. */
export async function readAdapterDelta(
  dir: string,
  baseShapes?: Record<string, number[]>,
): Promise<AdapterDelta> {
  const path = join(dir, "adapter_config.json");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    throw new UsageError(`${dir} is not a PEFT adapter folder (no adapter_config.json)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json))
    throw new UsageError(`${path}: expected a JSON object`);
  const type = (json as Record<string, unknown>).peft_type;
  const reader = typeof type === "string" ? READERS.get(type) : undefined;
  if (reader === undefined) {
    throw new UsageError(
      `${path}: peft_type ${JSON.stringify(type)} has no ΔW reader (readable: ${deltaTypes().join(", ")})`,
    );
  }
  return reader(dir, json as Record<string, unknown>, baseShapes);
}
