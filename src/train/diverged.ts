/**
 * DivergedError: the run stopped because `maxBadSteps` steps in a row had a non-finite loss,
 * gradient or update (each was skipped, so parameters and optimizer state stayed those of the
 * last good step). Neither a usage error nor a bug: the CLI exits with code 3 (DIVERGED_EXIT).
 */
export const DIVERGED_EXIT = 3;

/**
 * The run stopped because too many steps in a row had a non-finite loss, gradient or update (the
 * CLI exits with code 3).
 */
export class DivergedError extends Error {
  override name = "DivergedError";
  readonly exitCode = DIVERGED_EXIT;
}
