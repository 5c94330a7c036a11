/**
 * Layer blocks and seeded orders — the bookkeeping of block-coordinate and layer-sampling
 * optimizers (BAdam, LISA), which train some transformer layers at a time.
 *
 * Rule: a leaf belongs to layer block "…layers.<i>." when its path matches BAdam's layer pattern
 * (Ledzy/BAdam, `infer_param_groups`: `.*layers.[^.]*\.`), to the embedding block when it matches
 * `.*embed[^.]*\.`; every other leaf is "other". Blocks are listed as Hugging Face's
 * named_parameters lists them for a LLaMA: the embedding, then the layers in index order.
 *
 * Random orders come from the library's host PRNG (engine/rng.ts, xoshiro128**), so that a saved
 * state of four numbers resumes the same order and a reference script can reproduce it: a
 * Fisher–Yates shuffle drawing j = below(i + 1) for i = n−1 … 1. (torch.randperm and
 * np.random.choice, which the authors use, are not reproducible outside torch and numpy.)
 */
import { Xoshiro128 } from "../../engine/rng.js";

const LAYER = /^.*layers.[^.]*\./;
const EMBED = /^.*embed[^.]*\./;

/** The prefix of the layer block a path belongs to ("model.layers.3."), or undefined. */
export const layerPrefix = (path: string): string | undefined => LAYER.exec(path)?.[0];

/** Blocks of leaf paths: the embedding's (if any), the layers' in index order, and the others. */
export interface LayerBlocks {
  embedding: string[];
  layers: string[][];
  other: string[];
}

/** The number in a layer prefix, for ordering ("model.layers.10." after "model.layers.9."). */
const layerNumber = (prefix: string) => Number(/(\d+)\.$/.exec(prefix)?.[1] ?? Number.NaN);

/** Group paths (in tree order) into the embedding block, layer blocks and the rest. */
export function layerBlocks(paths: string[]): LayerBlocks {
  const layers = new Map<string, string[]>();
  const embedding: string[] = [];
  const other: string[] = [];
  for (const path of paths) {
    const layer = layerPrefix(path);
    if (layer !== undefined) {
      const block = layers.get(layer);
      if (block) block.push(path);
      else layers.set(layer, [path]);
    } else if (EMBED.test(path)) embedding.push(path);
    else other.push(path);
  }
  const prefixes = [...layers.keys()];
  const numbered = prefixes.every((p) => Number.isFinite(layerNumber(p)));
  if (numbered) prefixes.sort((a, b) => layerNumber(a) - layerNumber(b));
  return { embedding, layers: prefixes.map((p) => layers.get(p) as string[]), other };
}

/** A seeded permutation of 0 … n−1 (Fisher–Yates on `rng`, which advances). */
export function shuffled(rng: Xoshiro128, n: number): number[] {
  const out = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** The four words of a fresh generator for `seed` (a state that can be saved as plain numbers). */
export const rngState = (seed: number): number[] => Xoshiro128.fromSeed(seed).state();
