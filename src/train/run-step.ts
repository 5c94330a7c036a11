/**
 * One optimizer step: `accumulate` micro-batches through the jit'ed loss-and-gradient, each fed
 * to the optimizer (which averages them when accumulating), the updates added to the parameters.
 */
import type { numpy as np } from "@jax-js/jax";
import * as tree from "../engine/tree.js";
import type { LlamaParams } from "../nn/llama.js";
import { globalNormOf } from "../optim/transforms/clip.js";
import type { Run, TrainOptions } from "./run.js";
import { scalar } from "./run-data.js";

export interface StepResult {
  /** Mean loss over the micro-batches. */
  loss: number;
  /** Global gradient norm of the last micro-batch. */
  gradNorm: number;
}

/** Take step `run.step + 1` and advance `run.step`. */
export async function trainStep(
  run: Run,
  gradientHook?: TrainOptions["gradientHook"],
): Promise<StepResult> {
  const { config } = run;
  let lossSum = 0;
  let gradNorm = Number.NaN;
  for (let micro = 0; micro < config.accumulate; micro++) {
    const batch = run.sampler.next();
    const [loss, rawGrads] = run.lossAndGrad(tree.share(run.params), batch.inputs, batch.targets);
    const grads = gradientHook ? gradientHook(rawGrads, run.step + 1) : rawGrads;
    if (micro === config.accumulate - 1) gradNorm = await scalar(globalNormOf(tree.share(grads)));
    const [updates, next] = run.opt.update(grads, run.optState, tree.share(run.params));
    run.optState = next;
    run.params = tree.mapWithPath(
      (p: np.Array, _path, u: np.Array) => p.add(u),
      run.params,
      updates,
    ) as LlamaParams;
    lossSum += await scalar(loss);
  }
  run.step++;
  run.trainLoss = lossSum / config.accumulate;
  return { loss: run.trainLoss, gradNorm };
}
