/**
 * How the CLI fails: bad input is one line naming the problem and exit code 2; anything else is
 * one line and exit code 1. Stack traces only with --debug.
 */
import { UsageError } from "../train/config.js";

export const isDebug = () => process.argv.includes("--debug");

/** Errors the user caused: our UsageError, option validation (Range/TypeError from factories). */
const isUsage = (error: unknown) =>
  error instanceof UsageError || error instanceof RangeError || error instanceof TypeError;

export function reportError(error: unknown): number {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`rankwise: ${message.split("\n")[0]}\n`);
  if (isDebug() && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  return isUsage(error) ? 2 : 1;
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
