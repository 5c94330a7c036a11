/**
 * How the CLI fails. The user's mistakes (UsageError, OptionError, OptionTypeError: see
 * engine/errors.ts; a damaged safetensors file; a run too large for the engine's memory) are one
 * line naming the problem, exit code 2. Anything else is a bug: one line
 * "rankwise: internal error: …", exit code 1. Stack traces only with --debug.
 */
import { isUserError } from "../engine/errors.js";
import { SafetensorsError } from "../io/safetensors-dtypes.js";
import { DivergedError } from "../train/diverged.js";

export const isDebug = () => process.argv.includes("--debug");

/** jax-js's wasm backend is out of its 4 GiB address space: the run asked for too much. */
const isOutOfMemory = (error: unknown) =>
  error instanceof RangeError && /memory32 limit/.test(error.message);

export function reportError(error: unknown): number {
  let message = (error instanceof Error ? error.message : String(error)).split("\n")[0];
  if (isOutOfMemory(error)) {
    message = `out of memory: ${message} (try a smaller --model, --batch-size or --seq-len)`;
  }
  // A diverged run (train/diverged.ts): one line, its own exit code (3), neither usage nor bug.
  if (error instanceof DivergedError) {
    process.stderr.write(`rankwise: ${message}\n`);
    return error.exitCode;
  }
  const user = isUserError(error) || error instanceof SafetensorsError || isOutOfMemory(error);
  process.stderr.write(
    user
      ? `rankwise: ${message}\n`
      : `rankwise: internal error: ${message}${isDebug() ? "" : " (rerun with --debug for the stack trace)"}\n`,
  );
  if (isDebug() && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  return user ? 2 : 1;
}

/** Wrap a command action so its failures exit with the right code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>) {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (error) {
      process.exitCode = reportError(error);
    }
  };
}
