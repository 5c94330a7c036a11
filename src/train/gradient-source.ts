/**
 * `train --gradient backprop | forward[:k] | randomized:k`: the value, and what the two
 * estimated sources share — a jit'ed estimate keyed per gradient call.
 *
 * - backprop (default): the jit'ed loss-and-gradient (reweight/train-loss.ts), unchanged.
 * - forward[:k]: forward gradients over k random directions (./forward-step.ts).
 * - randomized:k: backprop whose dense decoder linear layers sketch their weight gradients
 *   through k random columns (./randomized-step.ts).
 *
 * Seeding (bit-exact resume without saved state): the key of the c-th gradient call of step s is
 * random.key(h), h a 32-bit word of xoshiro128** started from (seed, s, c, a tag), so a resumed
 * run draws exactly what the uninterrupted one drew, and every micro-batch (and every domain of
 * an upgrad step) gets its own draw. Both estimated sources train the plain mean cross-entropy,
 * so `--reweight` is not combined with them (train/config.ts).
 */
import { type numpy as np, random } from "@jax-js/jax";
import { UsageError } from "../engine/errors.js";
import { Xoshiro128 } from "../engine/rng.js";
import type { LlamaParams } from "../nn/llama.js";
import type { LossAndGrad } from "../nn/loss.js";

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

/** The 32-bit key seed of gradient call `call` in step `step` of a run seeded `seed`. */
export function directionSeed(seed: number, step: number, call: number): number {
  const rng = new Xoshiro128([seed >>> 0, step >>> 0, call >>> 0, 0x464f5257]);
  for (let i = 0; i < 16; i++) rng.nextUint32(); // mix the structured start state
  return rng.nextUint32();
}

/** A jit'ed (params, inputs, targets, key) → [loss, gradient estimate]; consumes all four. */
export type KeyedEstimate = ((
  params: LlamaParams,
  inputs: np.Array,
  targets: np.Array,
  key: np.Array,
) => [np.Array, LlamaParams]) & { dispose(): void };

/**
 * A LossAndGrad over a keyed estimate, its key drawn by {@link directionSeed} from the run's
 * seed and the step `step()` reads (a call counter restarts at each new step).
 */
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
    return estimate(params, inputs, targets, random.key(directionSeed(seed, s, call++)));
  };
  return Object.assign(run, { dispose: () => estimate.dispose() });
}
