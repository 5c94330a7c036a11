/**
 * The training loop: data → jit'ed loss-and-gradient → optimizer → parameters, with evaluation,
 * metrics, checkpoints, resume and a report. The CLI is a thin layer over `train`. Each part of
 * the loop lives in its own file: run-open (start or resume), run-step, run-log, run-eval,
 * run-checkpoint and run-finish.
 *
 * Exactness of resume: everything that decides step s+1 — parameters, optimizer state, sampler
 * position and random state, learning-rate schedule, skip counts — is restored from the
 * checkpoint, so a resumed run reproduces the uninterrupted one bit for bit.
 *
 * Divergence: a step with a non-finite loss, gradient or update is skipped (run-step.ts); after
 * `maxBadSteps` in a row the run stops with a DivergedError and writes no checkpoint, so the
 * folder keeps its last good one. No periodic checkpoint is written while skips are running.
 */
import { checkpointPath } from "./checkpoint.js";
import { DivergedError } from "./diverged.js";
import type { Run, TrainOptions, TrainResult } from "./run.js";
import { checkpointRun } from "./run-checkpoint.js";
import { evaluateRun } from "./run-eval.js";
import { finishRun } from "./run-finish.js";
import { isLogStep, logStep } from "./run-log.js";
import { closeRun, openRun } from "./run-open.js";
import { writeRunReport } from "./run-report.js";
import { trainStep } from "./run-step.js";

export { DivergedError } from "./diverged.js";
export { buildOptimizer, peakLearningRate } from "./optimizer.js";
export { checkResumable } from "./resume.js";
export type { TrainOptions, TrainResult } from "./run.js";
export { writeRunReport } from "./run-report.js";

/**
 * Train a model as the CLI does: a fresh run in `out`, or with `resume` the continuation of its
 * checkpoint (bit for bit as if never stopped). Writes metrics.jsonl, checkpoints and report.html
 * there.
 */
export async function train(o: TrainOptions): Promise<TrainResult> {
  const run = await openRun(o);
  try {
    const interrupted = await loop(run, o);
    return await finishRun(run, interrupted);
  } finally {
    closeRun(run);
  }
}

/** Step until the target step or an abort; true when aborted (also drives finetune.ts). */
export async function loop(run: Run, o: TrainOptions): Promise<boolean> {
  const { config } = run;
  while (run.step < config.steps) {
    const result = await trainStep(run, o.gradientHook);
    logStep(run, result, isLogStep(run, run.step));
    if (run.badSteps >= config.maxBadSteps) await diverged(run);
    const due = (every: number) => every > 0 && run.step % every === 0 && run.step < config.steps;
    if (due(config.evalEvery)) await evaluateRun(run);
    if (due(config.checkpointEvery) && run.badSteps === 0) await checkpointRun(run);
    await new Promise((resolve) => setImmediate(resolve)); // let Ctrl-C through
    if (o.signal?.aborted) return true;
  }
  return false;
}

/** Stop a run whose last `maxBadSteps` steps were all skipped. */
async function diverged(run: Run): Promise<never> {
  const { step, badSteps } = run;
  run.progress.end();
  run.metrics.append({ type: "diverged", step, inARow: badSteps, skippedSteps: run.skippedSteps });
  await writeRunReport(run.out, run.name, run.config);
  const kept =
    run.savedStep === undefined
      ? "no checkpoint was written"
      : `the last good checkpoint (step ${run.savedStep}) is kept in ${checkpointPath(run.out)}`;
  throw new DivergedError(
    `diverged: steps ${step - badSteps + 1}–${step} all had a non-finite loss, gradient or update (--max-bad-steps ${run.config.maxBadSteps}); ${kept}; try a lower --lr`,
  );
}
