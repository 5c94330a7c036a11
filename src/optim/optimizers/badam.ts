/**
 * badam — BAdam (Luo et al. 2024, "BAdam: A Memory Efficient Full Parameter Optimization Method
 * for Large Language Models"): block-coordinate descent with Adam. The parameters are split into
 * blocks (one per transformer layer; optionally the embedding and the head); one block at a time
 * is trained with AdamW for K steps, the others are frozen (no update, no state):
 *   after step s (s = 1, 2, …): if (s + 1) mod K = 0, switch to the next block and start its Adam
 *   over (fresh moments, step count from 1);
 *   next block: descending (from the last layer, the default), ascending, random (a new random
 *   order of all blocks each pass) or fixed.
 *   Active leaves: p ← p(1 − ηλ) − η·Adam(g) (torch.optim.AdamW; no decay on paths with "bias").
 * Reference: Ledzy/BAdam, src/badam/block_optim.py (BlockOptimizer: `infer_param_groups`,
 * `switch_trainable_params`, `_update_active_block_idx`; the base optimizer's state is cleared at
 * each switch). The switch rule is the authors' as written, so the first block trains K − 1 steps
 * and every later one K.
 *
 * Deviations: blocks come from leaf paths (transforms/layer-blocks.ts): layers in index order,
 * where the authors follow named_parameters' order (the same for a LLaMA); a tree with no layer
 * leaves gets one block per leaf (the authors' code has no blocks then); random orders come from
 * the library's seeded PRNG, not torch.randperm; no LoRA mode, no mixed-precision copies.
 * Leaves in no block (embedding and head unless included, final norm) are not trained, as in the
 * authors' code. The trainer still computes every leaf's gradient (the authors switch
 * requires_grad off, which also saves the backward work of the frozen blocks).
 *
 * Use: the defaults are the authors' fine-tuning ones. From a random initialisation they leave
 * the embedding (with tied embeddings, also the head) random and frozen, and K = 50 reaches two
 * blocks in 100 steps: the default preset stays at val 3.99 after 100 steps (AdamW 2.40). Train
 * the embedding first, as the authors advise for randomly initialised layers: includeEmbedding,
 * ascending, K = 20 (each block once in 100 steps) reaches 2.83 (bench/optimizers2.ts).
 *
 * State: the active block's two moments only — flattened, zero-padded to the largest block, so
 * the shapes never change across switches and checkpoints — the block cursor and the PRNG's four
 * words. Checked against a torch re-implementation of BlockOptimizer
 * around torch.optim.AdamW (tools/fixtures/round2_optimizers.py; test/optim/round2.test.ts).
 */
import { numpy as np } from "@jax-js/jax";
import { OptionError } from "../../engine/errors.js";
import { Xoshiro128 } from "../../engine/rng.js";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { chain, type GradientTransformation, type State } from "../core.js";
import { scaleByAdam } from "../transforms/adam.js";
import { layerBlocks, rngState, shuffled } from "../transforms/layer-blocks.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { SEEDED_ADAMW_DEFAULTS, type SeededAdamwOptions } from "../transforms/seeded-adamw.js";
import * as check from "../validate.js";

/** Options of {@link badam}. */
export interface BadamOptions extends SeededAdamwOptions {
  /** Step size: a number or a schedule of the step (default 1e-3). */
  learningRate?: number | ((step: number) => number);
  /** K: steps per block (default 50). */
  switchBlockEvery?: number;
  /** Order of the blocks (default "descending"). */
  switchMode?: "descending" | "ascending" | "random" | "fixed";
  /** Index of the first block (default: last for descending, first otherwise; random: drawn). */
  startBlock?: number;
  /** The embedding forms a block of its own (default false: never trained). */
  includeEmbedding?: boolean;
  /** The head and other non-layer leaves form a last block (default false: never trained). */
  includeLmHead?: boolean;
}

/** The defaults badam() really uses (the authors' BlockOptimizer around torch's AdamW). */
export const BADAM_DEFAULTS = {
  switchBlockEvery: 50,
  switchMode: "descending",
  startBlock: undefined as number | undefined,
  includeEmbedding: false,
  includeLmHead: false,
  ...SEEDED_ADAMW_DEFAULTS,
} as const;

export interface BadamState {
  /** Steps taken. */
  count: number;
  /** The block being trained. */
  active: number;
  /** The block the next switch activates (the authors' current_block_idx). */
  next: number;
  /** Random mode: this pass's order, popped from the end; `remaining` entries left. */
  order: number[];
  remaining: number;
  rng: number[];
  /** Adam of the active block: its step count and moments, the block's leaves flattened and
   *  concatenated, zero-padded to the largest block (so the shapes never change). */
  adamCount: number;
  mu: np.Array;
  nu: np.Array;
}

/** Leaves of a tree by path (the arrays themselves, not copies). */
function byPath(t: Params): Record<string, np.Array> {
  const out: Record<string, np.Array> = {};
  tree.walk(t, (x: np.Array, path) => {
    out[path] = x;
  });
  return out;
}

/** BAdam's blocks of leaf paths (see the header). */
function blocksOf(paths: string[], o: { includeEmbedding: boolean; includeLmHead: boolean }) {
  const { embedding, layers, other } = layerBlocks(paths);
  if (layers.length === 0) return paths.map((p) => [p]);
  const blocks: string[][] = [];
  if (o.includeEmbedding && embedding.length > 0) blocks.push(embedding);
  blocks.push(...layers);
  if (o.includeLmHead) {
    const rest = o.includeEmbedding ? other : [...other, ...embedding];
    if (rest.length > 0) blocks.push(rest);
  }
  return blocks;
}

/** Block-coordinate AdamW direction (before −η); see the header. */
export function scaleByBadam(
  o: Required<Omit<BadamOptions, "learningRate" | "startBlock">> & {
    startBlock?: number;
  },
): GradientTransformation<BadamState> {
  const adam = { b1: o.b1, b2: o.b2, eps: o.eps };
  type Cursor = Pick<BadamState, "active" | "next" | "order" | "remaining" | "rng">;
  /** The authors' `_update_active_block_idx`: the block after `c.next`. */
  const advance = (c: Cursor, n: number): Cursor => {
    if (o.switchMode === "ascending") return { ...c, next: (c.next + 1) % n };
    if (o.switchMode === "descending") return { ...c, next: (c.next - 1 + n) % n };
    if (o.switchMode === "fixed") return c;
    let { order, remaining, rng } = c;
    if (remaining === 0) {
      const gen = new Xoshiro128(rng);
      order = shuffled(gen, n);
      rng = gen.state();
      remaining = n;
    }
    return { ...c, order, remaining: remaining - 1, rng, next: order[remaining - 1] };
  };
  /** Activate `next`, then advance (the authors' `switch_trainable_params`). */
  const switchBlock = (c: Cursor, n: number): Cursor => advance({ ...c, active: c.next }, n);
  const flatAdam = scaleByAdam(adam);
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  /** Entries of the largest block: the length of the flat moments. */
  const longest = (blocks: string[][], shapes: Record<string, number[]>) =>
    Math.max(...blocks.map((b) => b.reduce((n, p) => n + size(shapes[p]), 0)));
  const freshMoments = (length: number) => ({ mu: np.zeros([length]), nu: np.zeros([length]) });
  return {
    init(params) {
      const leaves = byPath(params);
      const shapes = Object.fromEntries(Object.entries(leaves).map(([p, x]) => [p, x.shape]));
      tree.dispose(params);
      const blocks = blocksOf(Object.keys(shapes), o);
      const n = blocks.length;
      if (n === 0) throw new OptionError("badam: the parameters have no leaves to train");
      if (o.startBlock !== undefined && o.startBlock >= n) {
        throw new OptionError(
          `startBlock must be below the number of blocks (${n}), got ${o.startBlock}`,
        );
      }
      let cursor: Cursor = {
        active: 0,
        next: 0,
        order: new Array(n).fill(0),
        remaining: 0,
        rng: rngState(o.seed),
      };
      if (o.startBlock !== undefined) cursor.next = o.startBlock;
      else if (o.switchMode === "descending") cursor.next = n - 1;
      else if (o.switchMode === "random") cursor = advance(cursor, n);
      cursor = switchBlock(cursor, n);
      const moments = freshMoments(longest(blocks, shapes));
      return { count: 0, ...cursor, adamCount: 0, ...moments };
    },
    update(updates, state, params) {
      if (params === undefined) throw new Error("badam needs params in update()");
      const grads = byPath(updates);
      const weights = byPath(params);
      const paths = Object.keys(grads);
      const shapes = Object.fromEntries(paths.map((p) => [p, grads[p].shape]));
      const blocks = blocksOf(paths, o);
      const on = blocks[state.active];
      const active = new Set(on);
      for (const p of paths) if (!active.has(p)) weights[p].dispose();
      // Adam on the block as one vector (the padding stays zero: g = m = v = 0 there).
      const length = state.mu.shape[0];
      const sizes = on.map((p) => size(shapes[p]));
      const total = sizes.reduce((a, b) => a + b, 0);
      const pieces = on.map((p) => grads[p].reshape([-1]));
      if (length > total) pieces.push(np.zeros([length - total]));
      const [stepped, adamNext] = flatAdam.update(
        { flat: np.concatenate(pieces) },
        { count: state.adamCount, mu: { flat: state.mu }, nu: { flat: state.nu } },
      );
      const cuts: number[] = [];
      sizes.reduce((at, n) => {
        cuts.push(at + n);
        return at + n;
      }, 0);
      const parts = np.split((stepped as { flat: np.Array }).flat, cuts);
      parts[on.length].dispose(); // the padding (possibly empty)
      const dirs: Record<string, np.Array> = {};
      on.forEach((p, i) => {
        const d = parts[i].reshape(shapes[p]);
        // torch.optim.AdamW: p ← p(1 − ηλ) − η·Adam, no decay on biases (the authors' groups).
        if (o.weightDecay > 0 && !p.includes("bias"))
          dirs[p] = d.add(weights[p].mul(o.weightDecay));
        else {
          dirs[p] = d;
          weights[p].dispose();
        }
      });
      const out = paths.map((p) => {
        if (active.has(p)) return dirs[p];
        const zero = np.zerosLike(grads[p].ref);
        grads[p].dispose();
        return zero;
      });
      const count = state.count + 1;
      let next: BadamState = {
        ...state,
        count,
        adamCount: adamNext.count,
        mu: (adamNext.mu as { flat: np.Array }).flat,
        nu: (adamNext.nu as { flat: np.Array }).flat,
      };
      if ((count + 1) % o.switchBlockEvery === 0) {
        const cursor = switchBlock(next, blocks.length);
        tree.dispose([next.mu, next.nu]);
        next = {
          ...next,
          ...cursor,
          adamCount: 0,
          ...freshMoments(length),
        };
      }
      return [tree.unflatten(updates, out) as Params, next];
    },
  };
}

/**
 * BAdam (Luo et al. 2024): AdamW on one block of layers at a time, switching every
 * `switchBlockEvery` steps; the state holds the active block's moments only.
 */
export function badam(options: BadamOptions = {}): GradientTransformation<State[]> {
  check.knownOptions("badam", options, [...Object.keys(BADAM_DEFAULTS), "learningRate"]);
  const o = { ...BADAM_DEFAULTS, ...options };
  const startBlock =
    o.startBlock === undefined ? undefined : check.integer("startBlock", o.startBlock, 0);
  return chain(
    scaleByBadam({
      switchBlockEvery: check.integer("switchBlockEvery", o.switchBlockEvery, 1),
      switchMode: check.oneOf("switchMode", o.switchMode, [
        "descending",
        "ascending",
        "random",
        "fixed",
      ] as const),
      startBlock,
      includeEmbedding: check.boolean("includeEmbedding", o.includeEmbedding),
      includeLmHead: check.boolean("includeLmHead", o.includeLmHead),
      ...check.adamOptions({ b1: o.b1, b2: o.b2, eps: o.eps }),
      weightDecay: check.nonNegative("weightDecay", o.weightDecay),
      seed: check.integer("seed", o.seed, 0),
    }),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-3)),
  );
}
