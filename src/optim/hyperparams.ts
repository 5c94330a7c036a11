/**
 * injectHyperparams — optax's inject_hyperparams: numeric options live in the optimizer state, so
 * they can be read (for logging) or changed between steps without rebuilding the state, and
 * they are saved with checkpoints. Options given as schedules are re-evaluated at every step
 * and written into the state.
 *
 *   const opt = injectHyperparams(adamw, { learningRate: 1e-3, weightDecay: 0.1 });
 *   state.hyperparams.learningRate = 3e-4;   // takes effect at the next update
 */
import type { GradientTransformation, State } from "./core.js";

/**
 * The state of {@link injectHyperparams}: the step count, the current numeric options (writable
 * between steps) and the inner optimizer's state.
 */
export interface HyperparamsState<O> {
  count: number;
  /**
   * The options as numbers: schedules are evaluated at the current step; constants may be changed
   * in place.
   */
  hyperparams: { [K in keyof O]: O[K] extends number | ((step: number) => number) ? number : O[K] };
  inner: State;
}

/**
 * optax's inject_hyperparams: build the optimizer from `factory(options)` at every step with the
 * options kept in the state, so they can be logged, changed between steps and checkpointed.
 */
export function injectHyperparams<O extends object>(
  factory: (options: O) => GradientTransformation<any>,
  options: O,
): GradientTransformation<HyperparamsState<O>> {
  const at = (step: number) =>
    Object.fromEntries(
      Object.entries(options).map(([k, v]) => [k, typeof v === "function" ? v(step) : v]),
    ) as HyperparamsState<O>["hyperparams"];
  return {
    init(params) {
      const hyperparams = at(0);
      return { count: 0, hyperparams, inner: factory(hyperparams as O).init(params) };
    },
    update(updates, state, params) {
      const scheduled = at(state.count);
      // Scheduled values follow their schedule; constants keep whatever the user set in the state.
      const hyperparams = { ...state.hyperparams };
      for (const [k, v] of Object.entries(options)) {
        if (typeof v === "function")
          (hyperparams as Record<string, unknown>)[k] = scheduled[k as keyof O];
      }
      const [u, inner] = factory(hyperparams as O).update(updates, state.inner, params);
      return [u, { count: state.count + 1, hyperparams, inner }];
    },
  };
}
