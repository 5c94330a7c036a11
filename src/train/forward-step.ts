/**
 * `train --gradient backprop | forward[:k] | randomized:k`: where the trainer's gradient comes
 * from.
 *
 * - backprop (default): the jit'ed loss-and-gradient (reweight/train-loss.ts), unchanged.
 * - randomized:k: backprop whose dense decoder linear layers sketch their weight gradients
 *   (./randomized-step.ts).
 * - forward[:k]: Baydin et al.'s forward gradient (optim/estimators/forward-gradient.ts) of the
 *   whole model, g = (1/k) Σ_i (∇f·v_i) v_i over k Gaussian directions (default 1), each
 *   directional derivative one jit'ed `jvp` pass; the optimizer then sees g. No backward pass.
 *
 * Seeding (bit-exact resume without saved state): the directions of the c-th gradient call of
 * step s come from random.key(h), h a 32-bit word of xoshiro128** started from (seed, s, c, a
 * tag) — so a resumed run draws exactly what the uninterrupted one drew, and every micro-batch
 * (and every domain of an upgrad step) gets its own directions.
 * Deviations: the guess-direction variant (Fournier et al.) is not offered as a flag: it needs
 * a guess per step that is cheaper than the gradient and aligned with it (the paper's local
 * losses), which the decoder does not have; `guidedForwardGradient` stays a library function.
 * The reported loss is the plain mean cross-entropy, so `--reweight` is not combined with it.
 */
import { jit, type numpy as np, random } from "@jax-js/jax";
import { UsageError } from "../engine/errors.js";
import { Xoshiro128 } from "../engine/rng.js";
import * as tree from "../engine/tree.js";
import { type LlamaParams, llamaLoss } from "../nn/llama.js";
import type { LlamaConfig } from "../nn/llama-config.js";
import type { LossAndGrad } from "../nn/loss.js";
import { forwardGradient } from "../optim/estimators/forward-gradient.js";

/** A parsed `--gradient` value. */
export type GradientSpec =
  | { kind: "backprop" }
  | { kind: "forward"; directions: number }
  | { kind: "randomized"; sketch: number };

const ACCEPTED =
  "backprop, forward, forward:k (k directions, an integer from 1 to 1024), randomized:k (k sketch columns, an integer from 1 to 65536)";

/** Parse `--gradient`; throws a one-line UsageError naming the accepted values. */
export function parseGradient(value: unknown): GradientSpec {
  const text = String(value);
  if (text === "backprop") return { kind: "backprop" };
  const forward = /^forward(?::(\d+))?$/.exec(text);
  const directions = forward ? Number(forward[1] ?? 1) : Number.NaN;
  if (directions >= 1 && directions <= 1024) return { kind: "forward", directions };
  const randomized = /^randomized:(\d+)$/.exec(text);
  const sketch = randomized ? Number(randomized[1]) : Number.NaN;
  if (sketch >= 1 && sketch <= 65536) return { kind: "randomized", sketch };
  throw new UsageError(`--gradient must be one of ${ACCEPTED}; got "${text}"`);
}

/** The canonical text of a spec ("forward:1" for "forward"). */
export const formatGradient = (spec: GradientSpec): string =>
  spec.kind === "backprop"
    ? "backprop"
    : spec.kind === "forward"
      ? `forward:${spec.directions}`
      : `randomized:${spec.sketch}`;

/** The 32-bit seed of the directions of call `call` in step `step` of a run seeded `seed`. */
export function directionSeed(seed: number, step: number, call: number): number {
  const rng = new Xoshiro128([seed >>> 0, step >>> 0, call >>> 0, 0x464f5257]);
  for (let i = 0; i < 16; i++) rng.nextUint32(); // mix the structured start state
  return rng.nextUint32();
}

/**
 * The jit'ed forward-gradient estimate of the decoder's mean cross-entropy:
 * (params, inputs, targets, key) → [loss, g]. Consumes all four.
 */
export function makeForwardEstimate(config: LlamaConfig, directions: number) {
  return jit((params: LlamaParams, inputs: np.Array, targets: np.Array, key: np.Array) => {
    const f = (p: LlamaParams) => llamaLoss(tree.ref(p), inputs.ref, targets.ref, config);
    const out = forwardGradient(f as (p: any) => np.Array, params, key, directions);
    tree.dispose([params, inputs, targets]);
    return out;
  });
}

/** A jit'ed (params, inputs, targets, key) → [loss, gradient estimate]. */
export type KeyedEstimate = ReturnType<typeof makeForwardEstimate>;

/**
 * A LossAndGrad whose gradient is the forward estimate, keyed by the run's seed and the step
 * `step()` reads (a call counter restarts at each new step).
 */
export function makeForwardLossAndGrad(
  config: LlamaConfig,
  directions: number,
  seed: number,
  step: () => number,
): LossAndGrad<LlamaParams> {
  return keyedLossAndGrad(makeForwardEstimate(config, directions), seed, step);
}

/** A LossAndGrad over a keyed estimate, its key drawn by {@link directionSeed}. */
export function keyedLossAndGrad(
  estimate: KeyedEstimate,
  seed: number,
  step: () => number,
): LossAndGrad<LlamaParams> {
  let at = -1;
  let call = 0;
  const run = (params: LlamaParams, inputs: np.Array, targets: np.Array) => {
    const s = step();
    if (s !== at) [at, call] = [s, 0];
    const key = random.key(directionSeed(seed, s, call++));
    return estimate(params, inputs, targets, key) as unknown as [np.Array, LlamaParams];
  };
  return Object.assign(run, { dispose: () => estimate.dispose() });
}
