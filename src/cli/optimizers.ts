/** `rankwise optimizers`: the registry, with options and defaults. */
import { getOptimizer, optimizerNames } from "../train/registry.js";

export async function optimizersCommand(opts: { json?: boolean }): Promise<void> {
  const entries = optimizerNames().map(getOptimizer);
  if (opts.json) {
    const plain = entries.map(({ create: _create, ...rest }) => rest);
    process.stdout.write(`${JSON.stringify(plain, null, 2)}\n`);
    return;
  }
  for (const e of entries) {
    process.stdout.write(`${e.name} — ${e.description} (checked against ${e.reference})\n`);
    process.stdout.write(`    learningRate = ${e.defaultLearningRate}\n`);
    for (const o of e.options) {
      const def = o.default === undefined ? "unset" : String(o.default);
      process.stdout.write(`    ${o.name} = ${def}  ${o.description}\n`);
    }
  }
}
