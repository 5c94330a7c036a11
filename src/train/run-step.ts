/**
 * One optimizer step: `accumulate` micro-batches through the jit'ed loss-and-gradient, each fed
 * to the optimizer (which averages them when accumulating), the updates added to the parameters.
 *
 * A bad step is skipped: when a micro-batch's loss or gradient norm is not finite (then the
 * optimizer never sees it), or the new parameters are not, the parameters and the optimizer
 * state go back to the ones the step started from — the very same arrays, so they stay bit-exact
 * — and the step's remaining micro-batches are drawn and dropped, so the data order does not
 * depend on where a step failed. The step still counts (the next one gets new data); the
 * optimizer's own step count does not move.
 */
import * as tree from "../engine/tree.js";
import { nonFiniteLeaves } from "../nn/finite.js";
import type { LlamaParams } from "../nn/llama.js";
import { applyUpdates } from "../optim/core.js";
import { withLoss } from "../optim/loss-context.js";
import { globalNormOf } from "../optim/transforms/clip.js";
import { nextBatch } from "./mixing/next-batch.js";
import { isMonitorStep, type MonitorResult, observeStep } from "./monitors/run-monitors.js";
import { gradientPoint } from "./predict.js";
import type { Run, TrainOptions } from "./run.js";
import { scalar } from "./run-data.js";

export interface StepResult {
  /** Mean loss over the micro-batches (of those seen, on a skipped step). */
  loss: number;
  /** Global gradient norm of the last micro-batch seen. */
  gradNorm: number;
  /** Why the step was skipped; undefined for a good step. */
  skipped?: string;
  /** The matrix monitors' row, on a monitored good step (monitors/run-monitors.ts). */
  monitor?: MonitorResult;
}

/** Take step `run.step + 1` and advance `run.step`. */
export async function trainStep(
  run: Run,
  gradientHook?: TrainOptions["gradientHook"],
): Promise<StepResult> {
  const { config } = run;
  const before = { params: tree.share(run.params), optState: tree.share(run.optState) };
  let lossSum = 0;
  let gradNorm = Number.NaN;
  let skipped: string | undefined;
  let seen = 0;
  // A monitored step keeps its last micro-batch's weights, gradient and update.
  const watch = isMonitorStep(config, run.step + 1);
  let taken: Parameters<typeof observeStep>[2] | undefined;
  for (let micro = 0; micro < config.accumulate; micro++) {
    const batch = await nextBatch(run);
    const [loss, rawGrads] = run.lossAndGrad(gradientPoint(run), batch.inputs, batch.targets);
    const grads = gradientHook ? gradientHook(rawGrads, run.step + 1) : rawGrads;
    const value = await scalar(loss);
    gradNorm = await scalar(globalNormOf(tree.share(grads)));
    lossSum += value;
    seen++;
    if (!Number.isFinite(value) || !Number.isFinite(gradNorm)) {
      tree.dispose(grads);
      skipped = !Number.isFinite(value) ? `loss is ${value}` : `gradient norm is ${gradNorm}`;
      break;
    }
    const kept = watch && micro === config.accumulate - 1 ? tree.share(grads) : undefined;
    // The loss of the step so far, for optimizers whose rule reads it (SANIA).
    const [updates, next] = withLoss(lossSum / seen, () =>
      run.opt.update(grads, run.optState, tree.share(run.params)),
    );
    run.optState = next;
    if (watch && micro === config.accumulate - 1) {
      taken = {
        params: tree.share(run.params),
        grads: kept as LlamaParams,
        updates: tree.share(updates),
      };
    }
    // One compiled program over the tree: 38 eager adds cost ~2 ms of host work per step.
    run.params = applyUpdates(run.params, updates);
  }
  if (skipped === undefined) {
    const bad = await nonFiniteLeaves(run.params);
    if (bad.length > 0) skipped = `the update made ${JSON.stringify(bad[0])} non-finite`;
  }
  if (skipped === undefined) tree.dispose(before);
  else {
    tree.dispose([run.params, run.optState]);
    run.params = before.params;
    run.optState = before.optState;
    for (let micro = seen; micro < config.accumulate; micro++) {
      const batch = run.sampler.next();
      batch.inputs.dispose();
      batch.targets.dispose();
    }
  }
  let monitor: MonitorResult | undefined;
  if (taken !== undefined) {
    if (skipped === undefined) monitor = await observeStep(run, run.step + 1, taken);
    else tree.dispose([taken.params, taken.grads, taken.updates]);
  }
  run.step++;
  run.trainLoss = lossSum / seen;
  return { loss: run.trainLoss, gradNorm, skipped, monitor };
}
