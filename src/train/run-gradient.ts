/**
 * The run's loss-and-gradient: the gradient source (`--gradient`, ./gradient-source.ts) and,
 * with `--mixing upgrad`, the per-domain Jacobian aggregated by UPGrad (./upgrad-step.ts).
 * Without either it is the jit'ed backprop loss-and-gradient of the `--reweight` objective.
 */
import type { LlamaParams } from "../nn/llama.js";
import type { LlamaConfig } from "../nn/llama-config.js";
import type { LossAndGrad } from "../nn/loss.js";
import type { TrainConfig } from "./config.js";
import { makeForwardLossAndGrad } from "./forward-step.js";
import { parseGradient } from "./gradient-source.js";
import { domainNames } from "./mixing/spec.js";
import { makeRandomizedLossAndGrad } from "./randomized-step.js";
import { parseReweight } from "./reweight/spec.js";
import { makeTrainLossAndGrad } from "./reweight/train-loss.js";
import { makeUpgradLossAndGrad } from "./upgrad-step.js";

/** `step()` reads the run's steps taken so far (it keys the estimated gradients). */
export function makeRunLossAndGrad(
  config: TrainConfig,
  modelConfig: LlamaConfig,
  step: () => number,
): LossAndGrad<LlamaParams> {
  const spec = parseGradient(config.gradient ?? "backprop");
  const base =
    spec.kind === "forward"
      ? makeForwardLossAndGrad(modelConfig, spec.directions, config.seed, step)
      : spec.kind === "randomized"
        ? makeRandomizedLossAndGrad(modelConfig, spec.sketch, config.seed, step)
        : makeTrainLossAndGrad(modelConfig, parseReweight(config.reweight));
  if (config.mixing !== "upgrad") return base;
  return makeUpgradLossAndGrad(base, domainNames(config.data).length);
}
