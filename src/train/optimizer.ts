/**
 * The run's optimizer: the registry entry with clipping and accumulation around it.
 *
 * Every wrapper keeps the state of what it wraps under a name (`clipped` → `optimizer`,
 * accumulateGradients → `inner`), and `buildOptimizer` composes the accessor to the registry
 * optimizer's own state as it adds each wrapper, so nothing unwraps the state by position.
 */
import type { GradientTransformation, State } from "../optim/core.js";
import { accumulateGradients } from "../optim/transforms/accumulate.js";
import { clipByGlobalNorm } from "../optim/transforms/clip.js";
import { type TrainConfig, UsageError } from "./config.js";
import { learningRateSchedule } from "./lr.js";
import { getOptimizer } from "./registry.js";
import { type RegularizedState, regularized } from "./regularizer.js";

/** The run's transformation, plus the way back to the registry optimizer's own state. */
export interface RunOptimizer extends GradientTransformation<any> {
  /** The registry optimizer's state inside the wrappers (borrowed, not a copy). */
  optimizerState(state: any): unknown;
}

export interface ClippedState {
  optimizer: State;
}

/** Clip the gradient's global norm, then apply `inner`; the inner state is kept as `optimizer`. */
export function clipped(
  inner: GradientTransformation<any>,
  maxNorm: number,
): GradientTransformation<ClippedState> {
  const clip = clipByGlobalNorm(maxNorm); // stateless
  return {
    init: (params) => ({ optimizer: inner.init(params) }),
    update(updates, state, params) {
      const [u] = clip.update(updates, {});
      const [out, next] = inner.update(u, state.optimizer, params);
      return [out, { optimizer: next }];
    },
  };
}

/**
 * Build the run's optimizer: gradient clipping → the regularisers' gradients (--regularizer) →
 * the named optimizer → (accumulation).
 */
export function buildOptimizer(config: TrainConfig): RunOptimizer {
  const entry = getOptimizer(config.optimizer);
  let opt: GradientTransformation<any>;
  try {
    opt = entry.create({
      ...config.optimizerOptions,
      learningRate: learningRateSchedule(config, peakLearningRate(config)),
    });
  } catch (error) {
    throw new UsageError(`optimizer ${entry.name}: ${(error as Error).message}`);
  }
  let own = (state: any): unknown => state;
  if (config.regularizer !== undefined) {
    opt = regularized(opt, config.regularizer);
    const below = own;
    own = (state: RegularizedState) => below(state.optimizer);
  }
  if (config.clipNorm > 0) {
    opt = clipped(opt, config.clipNorm);
    const below = own;
    own = (state: ClippedState) => below(state.optimizer);
  }
  if (config.accumulate > 1) {
    opt = accumulateGradients(opt, config.accumulate);
    const below = own;
    own = (state: { inner: unknown }) => below(state.inner);
  }
  const inner = opt;
  return {
    init: (params) => inner.init(params),
    update: (updates, state, params) => inner.update(updates, state, params),
    optimizerState: own,
  };
}

/** The peak learning rate the run uses: --lr, else the optimizer's default. */
export const peakLearningRate = (config: TrainConfig) =>
  config.lr ?? getOptimizer(config.optimizer).defaultLearningRate;
