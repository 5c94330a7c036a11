/**
 * The optimizers' leak check: run a few steps and count the live device buffers after each.
 * Rule: after `warmup` steps the count never grows; at the end at most the params and the state
 * are alive beyond the count before the run; once they are disposed, the count is back where it
 * started. Every final parameter is finite.
 */
import { blockUntilReady } from "@jax-js/jax";
import { expect } from "vitest";
import * as tree from "../../src/engine/tree.js";
import { applyUpdates } from "../../src/optim/core.js";
import { liveBuffers, read } from "./engine.js";
import type { Optimizer } from "./trajectory.js";

const arrayLeaves = (t: unknown) => tree.leaves(t as any).filter(tree.isArray);

export interface LeakRun {
  /** Builds the optimizer (after the first count, so that what it allocates counts too). */
  make: () => Optimizer;
  /** Fresh parameters. */
  params: () => any;
  /** Fresh gradients for a step. */
  grads: (step: number) => any;
  steps: number;
  /** Steps allowed to grow the count first (lazily built state, compiled programs); default 0. */
  warmup?: number;
}

export async function expectNoLeaks(run: LeakRun): Promise<void> {
  const warmup = run.warmup ?? 0;
  const before = await liveBuffers();
  const opt = run.make();
  let params = run.params();
  let state = opt.init(tree.ref(params));
  const counts: number[] = [];
  for (let step = 0; step < run.steps; step++) {
    const [updates, next] = opt.update(run.grads(step), state, tree.ref(params));
    state = next;
    params = applyUpdates(params, updates);
    // Run pending work, so that lazy arrays hold buffers rather than graphs over earlier ones.
    await blockUntilReady([...arrayLeaves(params), ...arrayLeaves(state)]);
    counts.push(await liveBuffers());
  }
  const held = arrayLeaves(params).length + arrayLeaves(state).length;
  const grew = counts.findIndex((n, i) => i >= warmup && n > counts[warmup]);
  expect(grew, `live buffers per step: ${counts.join(", ")}`).toBe(-1);
  expect(counts[run.steps - 1] - before).toBeLessThanOrEqual(held);
  for (const leaf of arrayLeaves(params)) {
    expect(Array.from(read(leaf)).every(Number.isFinite)).toBe(true);
  }
  tree.dispose(params);
  tree.dispose(state);
  expect(await liveBuffers()).toBe(before);
}
