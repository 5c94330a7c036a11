/**
 * The loss of the step being taken, for the few optimizers whose rule reads it (SANIA's Polyak
 * step size). The optimizer contract passes gradients, state and params only; rather than widen it
 * for every wrapper (chain, partition, clipping, accumulation), the caller that computed the loss
 * runs the update inside `withLoss(loss, …)` and the optimizer reads `currentLoss()`. The trainer
 * does so with the mean loss of the step's micro-batches seen so far.
 */

let current: number | undefined;

/** Run `fn` with `loss` as the current step's loss (restored afterwards, also on a throw). */
export function withLoss<T>(loss: number, fn: () => T): T {
  const previous = current;
  current = loss;
  try {
    return fn();
  } finally {
    current = previous;
  }
}

/** The loss given by the innermost `withLoss`, or undefined outside one. */
export const currentLoss = (): number | undefined => current;
