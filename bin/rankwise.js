#!/usr/bin/env node
// Entry point of the `rankwise` command. The wasm thread count must be set before jax-js loads
// (see src/engine/node-threads.ts); RANKWISE_THREADS overrides the default chosen here: two
// threads where the machine has two cores or more (the default model trained 1.78× faster on two
// than on one, docs/benchmarks.md's training throughput; more threads are not measured yet).
import { availableParallelism } from "node:os";

process.env.RANKWISE_THREADS ??= String(Math.min(2, availableParallelism()));
try {
  await import("../dist/engine/node-threads.js"); // before anything loads jax-js
} catch (error) {
  // e.g. a bad RANKWISE_THREADS: one line and exit code 2, like every other bad input.
  const { reportError } = await import("../dist/cli/errors.js");
  process.exit(reportError(error));
}
const { main } = await import("../dist/cli/main.js");
process.exitCode = await main(process.argv);
