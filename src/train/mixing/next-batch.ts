/**
 * A training step's next batch: from the run's one stream, or from its Mixer, which first lets
 * the mixing rule observe what it needs at the step's parameters (mixer.ts).
 */
import type { Batch } from "../../data/sampler.js";
import { UsageError } from "../../engine/errors.js";
import type { Run } from "../run.js";
import { Mixer } from "./mixer.js";

export async function nextBatch(run: Run): Promise<Batch> {
  const s = run.sampler;
  if (!(s instanceof Mixer)) return s.next();
  // An adapted run's parameters are the adapter: the per-row losses need the whole model.
  if (run.adapted && (s.rule === "doremi" || s.rule === "odm")) {
    throw new UsageError(
      `--mixing ${s.rule} is not available to finetune (it reads the model's per-row losses); use uniform, fixed:w1,w2,… or dga`,
    );
  }
  if (run.adapted && s.rule === "upgrad") {
    throw new UsageError(
      "--mixing upgrad is not available to finetune; use uniform, fixed:w1,w2,… or dga",
    );
  }
  return s.nextObserved({
    params: run.params,
    step: run.step,
    modelConfig: run.modelConfig,
    lossAndGrad: run.lossAndGrad,
  });
}
