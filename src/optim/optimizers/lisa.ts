/**
 * lisa — LISA (Pan et al. 2024, "LISA: Layerwise Importance Sampling for Memory-Efficient Large
 * Language Model Fine-Tuning"): AdamW where, every K steps, γ of the transformer layers are drawn
 * at random and only they (with every non-layer leaf: embedding, final norm, head) are trained
 * until the next draw; the other layers are frozen.
 *   at step s = 0, K, 2K, … (steps taken so far): draw γ layers without replacement
 *   trained leaf p (its own step count t): p ← p(1 − ηλ) − η·Adam_t(g)   (torch.optim.AdamW)
 *   frozen leaf: unchanged; its moments and step count wait until it is drawn again.
 * Reference: OptimalScale/LMFlow, `DynamicLayerActivationCallback` (on_step_begin at
 * global_step % interval_steps == 0: freeze all layers, np.random.choice(total, n, replace=False),
 * unfreeze those), with the Hugging Face Trainer's torch AdamW created over every parameter — a
 * frozen parameter has no gradient, so torch skips it and keeps its state; decay only on matrices
 * that are not biases (the Trainer leaves biases and norms undecayed). Defaults: γ = 1, K = 20
 * (LMFlow's run_finetune_with_lisa.sh), λ = 0 (the Trainer's).
 *
 * Deviations: layers come from leaf paths (`…layers.<i>.`, transforms/layer-blocks.ts); the draw
 * is a seeded Fisher–Yates shuffle on the library's PRNG (first γ entries), not numpy's global
 * RNG; with no layer leaves every leaf is trained (plain AdamW).
 *
 * State: AdamW's moments for every leaf and per-leaf step counts (allocated up front so the shapes
 * never change across checkpoints; torch creates a layer's state at its first draw and keeps it,
 * so the reference holds as much once every layer has been drawn — zero moments with step 0
 * compute exactly as torch's fresh state), the drawn layers and the PRNG's four words.
 * Checked against a torch re-implementation (tools/fixtures/round2_optimizers.py; test/optim/
 * round2.test.ts).
 */
import { numpy as np } from "@jax-js/jax";
import { OptionError } from "../../engine/errors.js";
import { Xoshiro128 } from "../../engine/rng.js";
import type { Params } from "../../engine/tree.js";
import * as tree from "../../engine/tree.js";
import { chain, type GradientTransformation, type State } from "../core.js";
import { layerBlocks, rngState, shuffled } from "../transforms/layer-blocks.js";
import { scaleByLearningRate } from "../transforms/scale.js";
import { SEEDED_ADAMW_DEFAULTS, type SeededAdamwOptions } from "../transforms/seeded-adamw.js";
import { subsetAdamStep } from "../transforms/subset-adam.js";
import * as check from "../validate.js";

/** Options of {@link lisa}. */
export interface LisaOptions extends SeededAdamwOptions {
  /** Step size: a number or a schedule of the step (default 1e-3). */
  learningRate?: number | ((step: number) => number);
  /** γ: layers trained at a time (default 1). */
  activatedLayers?: number;
  /** K: steps between draws (default 20). */
  intervalSteps?: number;
}

/** The defaults lisa() really uses (LMFlow's script, the Trainer's AdamW). */
export const LISA_DEFAULTS = {
  activatedLayers: 1,
  intervalSteps: 20,
  ...SEEDED_ADAMW_DEFAULTS,
} as const;

export interface LisaState {
  /** Steps taken. */
  count: number;
  /** Indices of the drawn layers (γ of them). */
  layers: number[];
  rng: number[];
  /** Per-leaf AdamW step counts and moments. */
  steps: Record<string, number>;
  mu: Record<string, np.Array>;
  nu: Record<string, np.Array>;
}

function byPath(t: Params): Record<string, np.Array> {
  const out: Record<string, np.Array> = {};
  tree.walk(t, (x: np.Array, path) => {
    out[path] = x;
  });
  return out;
}

/** LISA's AdamW direction (before −η); see the header. */
export function scaleByLisa(
  o: Required<Omit<LisaOptions, "learningRate">>,
): GradientTransformation<LisaState> {
  const adam = { b1: o.b1, b2: o.b2, eps: o.eps };
  return {
    init(params) {
      const leaves = byPath(params);
      const { layers } = layerBlocks(Object.keys(leaves));
      if (layers.length > 0 && o.activatedLayers > layers.length) {
        tree.dispose(params);
        throw new OptionError(
          `activatedLayers must be at most the number of layers (${layers.length}), got ${o.activatedLayers}`,
        );
      }
      const steps = Object.fromEntries(Object.keys(leaves).map((p) => [p, 0]));
      const mu: Record<string, np.Array> = {};
      const nu: Record<string, np.Array> = {};
      for (const [p, x] of Object.entries(leaves)) {
        mu[p] = np.zeros(x.shape);
        nu[p] = np.zeros(x.shape);
      }
      tree.dispose(params);
      const drawn = Math.min(o.activatedLayers, layers.length);
      return { count: 0, layers: new Array(drawn).fill(0), rng: rngState(o.seed), steps, mu, nu };
    },
    update(updates, state, params) {
      if (params === undefined) throw new Error("lisa needs params in update()");
      const grads = byPath(updates);
      const weights = byPath(params);
      const paths = Object.keys(grads);
      const { layers } = layerBlocks(paths);
      let { layers: drawn, rng } = state;
      if (state.count % o.intervalSteps === 0 && layers.length > 0) {
        const gen = new Xoshiro128(rng);
        drawn = shuffled(gen, layers.length).slice(0, drawn.length);
        rng = gen.state();
      }
      const frozen = new Set(layers.filter((_, i) => !drawn.includes(i)).flat());
      const on = paths.filter((p) => !frozen.has(p));
      for (const p of frozen) weights[p].dispose();
      const [dirs, stepped] = subsetAdamStep(
        adam,
        o.weightDecay,
        (p) => weights[p].ndim >= 2 && !p.includes("bias"),
        on,
        grads,
        weights,
        { steps: state.steps, mu: state.mu, nu: state.nu },
      );
      const out = paths.map((p) => {
        if (!frozen.has(p)) return dirs[p];
        const zero = np.zerosLike(grads[p].ref);
        grads[p].dispose();
        return zero;
      });
      return [
        tree.unflatten(updates, out) as Params,
        { count: state.count + 1, layers: drawn, rng, ...stepped },
      ];
    },
  };
}

/**
 * LISA (Pan et al. 2024): AdamW on the embedding, the head and γ randomly drawn layers, redrawn every
 * `intervalSteps` steps.
 */
export function lisa(options: LisaOptions = {}): GradientTransformation<State[]> {
  check.knownOptions("lisa", options, [...Object.keys(LISA_DEFAULTS), "learningRate"]);
  const o = { ...LISA_DEFAULTS, ...options };
  return chain(
    scaleByLisa({
      activatedLayers: check.integer("activatedLayers", o.activatedLayers, 1),
      intervalSteps: check.integer("intervalSteps", o.intervalSteps, 1),
      ...check.adamOptions({ b1: o.b1, b2: o.b2, eps: o.eps }),
      weightDecay: check.nonNegative("weightDecay", o.weightDecay),
      seed: check.integer("seed", o.seed, 0),
    }),
    scaleByLearningRate(check.learningRate(o.learningRate ?? 1e-3)),
  );
}
