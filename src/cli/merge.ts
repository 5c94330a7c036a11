/**
 * `rankwise merge <config.yml> --out <dir> [--seed n] [--max-shard-size bytes]`: merge models
 * as a mergekit YAML says, into a new model folder (src/weights/merge/run.ts). Prints a start
 * line, a progress count on stderr, and a closing line with the files written and peak memory.
 */
import { readFileSync } from "node:fs";
import { UsageError } from "../engine/errors.js";
import { runMerge } from "../weights/merge/run.js";

const intFlag = (flag: string, value: string | undefined, min: number): number | undefined => {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`${flag} must be an integer ≥ ${min}, got "${value}"`);
  }
  return n;
};

export async function mergeCommand(
  configPath: string,
  opts: { out?: string; seed?: string; maxShardSize?: string; quiet?: boolean },
): Promise<void> {
  if (opts.out === undefined) throw new UsageError("merge: --out <dir> is required (a new folder)");
  const seed = intFlag("--seed", opts.seed, 0);
  const maxShardBytes = intFlag("--max-shard-size", opts.maxShardSize, 1);
  let text: string;
  try {
    text = readFileSync(configPath, "utf8");
  } catch (error) {
    throw new UsageError(
      `cannot read the merge config ${configPath}: ${(error as NodeJS.ErrnoException).code ?? "error"}`,
    );
  }
  const tty = process.stderr.isTTY && !opts.quiet;
  const summary = await runMerge(text, {
    out: opts.out,
    seed,
    maxShardBytes,
    // The start line once the config is known to be good, so a bad one stays one line.
    onStart: opts.quiet
      ? undefined
      : (p) =>
          process.stderr.write(
            `merging ${p.tensors} tensors (${p.layers} layers) of ${p.models} models by ${p.method} into ${opts.out}\n`,
          ),
    onTensor: tty ? (done, total) => process.stderr.write(`\r${done}/${total} tensors`) : undefined,
    onStatistics: opts.quiet
      ? undefined
      : (model) => process.stderr.write(`calibration statistics of ${model} measured\n`),
  });
  if (tty) process.stderr.write("\n");
  process.stdout.write(
    `merged ${summary.tensors} tensors (${summary.layers} layers) by ${summary.method} into ${opts.out}: ${summary.files.join(", ")}; peak memory ${(summary.peakRssBytes / 2 ** 20).toFixed(0)} MiB\n`,
  );
}
