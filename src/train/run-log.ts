/**
 * What a step leaves behind: the gradient-spike monitor's verdict, the skip count, metrics rows
 * and the progress bar. A "train" row is written every `logEvery` steps; a "spike" row for every
 * gradient spike and a "skip" row for every skipped step are written whatever the step, so they
 * are visible between log steps.
 */
import * as tree from "../engine/tree.js";
import { monitorLink } from "./monitors/run-monitors.js";
import { getOptimizer } from "./registry.js";
import type { Run } from "./run.js";
import type { StepResult } from "./run-step.js";

/** Record step `run.step`; `log` says whether it is a logging step. */
export function logStep(run: Run, result: StepResult, log: boolean): void {
  const { config, step, progress } = run;
  const { loss, gradNorm, skipped } = result;
  if (skipped === undefined) run.badSteps = 0;
  else {
    run.skippedSteps++;
    run.badSteps++;
  }
  // A skipped step's non-finite norm also counts as a spike; its "skip" row says it all.
  if (run.spikes.observe(gradNorm, step) && skipped === undefined) {
    const link = monitorLink(run);
    run.metrics.append({
      type: "spike",
      step,
      gradNorm,
      ratio: run.spikes.metrics().ratio,
      ...link.fields,
    });
    progress.log(`step ${step}: gradient spike (norm ${gradNorm.toPrecision(3)})${link.text}`);
  }
  if (result.monitor !== undefined) {
    const { row, warning } = result.monitor;
    run.metrics.append({ ...row });
    if (warning !== undefined) {
      run.metrics.append({ ...warning });
      progress.log(
        `step ${step}: spectral alignment ${warning.saMax.toPrecision(3)} on ${warning.matrix}, positive in ${Math.round(100 * warning.saPositive)}% of matrices: updates inflate the top singular values; loss spikes tend to follow`,
      );
    }
  }
  if (skipped !== undefined) {
    run.metrics.append({
      type: "skip",
      step,
      reason: skipped,
      loss,
      gradNorm,
      skippedSteps: run.skippedSteps,
      inARow: run.badSteps,
    });
    progress.log(
      `step ${step}: skipped (${skipped}); ${run.badSteps} in a row, the run stops at ${config.maxBadSteps}`,
    );
  }
  if (log) {
    const now = run.seconds();
    const entry = getOptimizer(config.optimizer);
    run.metrics.append({
      type: "train",
      step,
      loss,
      // The optimizer's own count: skipped steps did not advance it.
      lr: run.schedule(step - 1 - (run.skippedSteps - (skipped === undefined ? 0 : 1))),
      gradNorm,
      tokensPerSec:
        ((step - run.lastLog.step) * run.tokensPerStep) / Math.max(now - run.lastLog.time, 1e-9),
      elapsed: now,
      stateBytes: tree.stateBytes(run.optState),
      gradSpikes: run.spikes.metrics().spikes,
      skippedSteps: run.skippedSteps,
      ...(skipped === undefined ? {} : { skipped: true }),
      ...("domainWeights" in run.sampler ? { domainWeights: run.sampler.domainWeights() } : {}),
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
