/**
 * Pruning methods by name (one file each) and the model-level driver. `rankwise prune` and the
 * library both go through {@link pruneModel}.
 */
import { dsnot } from "./dsnot.js";
import { gblm } from "./gblm.js";
import { magnitude } from "./magnitude.js";
import { oba } from "./oba.js";
import { sparsegpt } from "./sparsegpt.js";
import type { PruneMethod } from "./types.js";
import { wanda } from "./wanda.js";

export { type PruneModelOptions, type PruneSummary, pruneModel } from "./prune-model.js";
export type { InputStats, PruneMethod, PruneSettings } from "./types.js";

/** Every registered method, by its command-line name. */
export const PRUNE_METHODS: Readonly<Record<string, PruneMethod>> = {
  magnitude,
  wanda,
  sparsegpt,
  gblm,
  dsnot,
  oba,
};
