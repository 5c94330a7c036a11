/**
 * The library's error classes for bad input, defined once at the bottom layer so every layer can
 * throw them. The CLI (src/cli/errors.ts) treats exactly these as the user's mistake — one line,
 * exit code 2 — and everything else as an internal error (a bug: exit code 1).
 *
 * - UsageError: bad input in general (a flag, a file, a folder, an environment variable).
 * - OptionError / OptionTypeError: a bad option value or name given to a library factory
 *   (`adamw({ b1: 2 })`). They extend RangeError and TypeError, so code and tests that catch
 *   those keep working.
 */

/** Bad user input: the CLI prints the message alone and exits with code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** An option value out of its accepted range or list (e.g. `b1` outside [0, 1)). */
export class OptionError extends RangeError {
  override name = "OptionError";
}

/** An option of the wrong type, or an option name the factory does not know. */
export class OptionTypeError extends TypeError {
  override name = "OptionTypeError";
}

/** Whether `error` is the user's mistake (as opposed to a bug). */
export const isUserError = (error: unknown): boolean =>
  error instanceof UsageError || error instanceof OptionError || error instanceof OptionTypeError;
