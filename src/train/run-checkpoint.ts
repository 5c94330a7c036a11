/** Saving a run: its current state as the folder's checkpoint (see checkpoint.ts). */
import { newMeta, saveCheckpoint } from "./checkpoint.js";
import type { Run } from "./run.js";

export async function checkpointRun(run: Run): Promise<void> {
  await saveCheckpoint(run.out, {
    meta: newMeta({
      step: run.step,
      config: run.config,
      tokenizer: run.data.tokenizer.toJSON(),
      sampler: run.sampler.state(),
      spikes: run.spikes.state(),
      elapsed: run.seconds(),
    }),
    modelConfig: run.modelConfig,
    params: run.params,
    optState: run.optState,
  });
}
