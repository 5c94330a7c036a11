/**
 * What a step leaves behind: the gradient-spike monitor's verdict, a metrics row on log steps
 * (loss, learning rate, gradient norm, throughput, state size, the optimizer's own numbers) and
 * the progress bar.
 */
import * as tree from "../engine/tree.js";
import { getOptimizer } from "./registry.js";
import type { Run } from "./run.js";
import type { StepResult } from "./run-step.js";

/** Record step `run.step`; `log` says whether it is a logging step. */
export function logStep(run: Run, result: StepResult, log: boolean): void {
  const { config, step, progress } = run;
  const { loss, gradNorm } = result;
  if (run.spikes.observe(gradNorm, step))
    progress.log(`step ${step}: gradient spike (norm ${gradNorm.toPrecision(3)})`);
  if (!Number.isFinite(loss)) progress.log(`step ${step}: loss is ${loss}`);
  if (log) {
    const now = run.seconds();
    const entry = getOptimizer(config.optimizer);
    run.metrics.append({
      type: "train",
      step,
      loss,
      lr: run.schedule(step - 1),
      gradNorm,
      tokensPerSec:
        ((step - run.lastLog.step) * run.tokensPerStep) / Math.max(now - run.lastLog.time, 1e-9),
      elapsed: now,
      stateBytes: tree.stateBytes(run.optState),
      gradSpikes: run.spikes.metrics().spikes,
      ...(entry.metrics ? entry.metrics(run.opt.optimizerState(run.optState)) : {}),
    });
    run.lastLog = { step, time: now };
  }
  const elapsed = run.seconds() - run.elapsedBefore;
  progress.update(
    {
      step,
      total: config.steps,
      loss,
      tokensPerSec: ((step - run.startStep) * run.tokensPerStep) / Math.max(elapsed, 1e-9),
      elapsed,
    },
    run.startStep,
    log,
  );
}

/** Whether step `step` (1-based, just taken) writes a metrics row. */
export const isLogStep = (run: Run, step: number) =>
  step % run.config.logEvery === 0 || step === run.config.steps;
