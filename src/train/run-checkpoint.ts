/**
 * Saving a run: its current state as the folder's checkpoint (see checkpoint.ts), then the
 * report of the run so far (unless the caller writes it itself).
 */
import { newMeta, saveCheckpoint } from "./checkpoint.js";
import type { Run } from "./run.js";
import { writeRunReport } from "./run-report.js";

export async function checkpointRun(run: Run, o: { report?: boolean } = {}): Promise<void> {
  const meta = newMeta({
    step: run.step,
    config: run.config,
    tokenizer: run.data.tokenizer.toJSON(),
    sampler: run.sampler.state(),
    spikes: run.spikes.state(),
    skippedSteps: run.skippedSteps,
    badSteps: run.badSteps,
    elapsed: run.seconds(),
  });
  if (run.adapted) await run.adapted.save(run, meta);
  else
    await saveCheckpoint(run.out, {
      meta,
      modelConfig: run.modelConfig,
      params: run.params,
      optState: run.optState,
    });
  run.savedStep = run.step;
  if (o.report ?? true) await writeRunReport(run.out, run.name, run.config);
}
