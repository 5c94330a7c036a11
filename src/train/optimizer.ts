/** The run's optimizer: the registry entry with clipping and accumulation around it. */
import { chain, type GradientTransformation } from "../optim/core.js";
import { accumulateGradients } from "../optim/transforms/accumulate.js";
import { clipByGlobalNorm } from "../optim/transforms/clip.js";
import { type TrainConfig, UsageError } from "./config.js";
import { learningRateSchedule } from "./lr.js";
import { getOptimizer } from "./registry.js";

/** Build the run's optimizer: gradient clipping → the named optimizer → (accumulation). */
export function buildOptimizer(config: TrainConfig): GradientTransformation<any> {
  const entry = getOptimizer(config.optimizer);
  const peak = config.lr ?? entry.defaultLearningRate;
  let opt: GradientTransformation<any>;
  try {
    opt = entry.create({
      ...config.optimizerOptions,
      learningRate: learningRateSchedule(config, peak),
    });
  } catch (error) {
    throw new UsageError(`optimizer ${entry.name}: ${(error as Error).message}`);
  }
  if (config.clipNorm > 0) opt = chain(clipByGlobalNorm(config.clipNorm), opt);
  return config.accumulate > 1 ? accumulateGradients(opt, config.accumulate) : opt;
}

/** The registry optimizer's own state inside the wrappers `buildOptimizer` adds. */
export function ownState(config: TrainConfig, state: any): unknown {
  const unwrapped = config.accumulate > 1 ? state.inner : state;
  return config.clipNorm > 0 ? unwrapped[1] : unwrapped;
}

export const peakLearningRate = (config: TrainConfig) =>
  config.lr ?? getOptimizer(config.optimizer).defaultLearningRate;
