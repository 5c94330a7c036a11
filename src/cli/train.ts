/** `rankwise train`: one run, with progress, checkpoints, resume and a report. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { checkpointPath, hasCheckpoint } from "../train/checkpoint.js";
import { type TrainConfig, UsageError, validateConfig } from "../train/config.js";
import { train } from "../train/trainer.js";
import { configFromFlags } from "./train-flags.js";

export const timestamp = () => new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);

/** Abort on Ctrl-C so the trainer can checkpoint; a second Ctrl-C exits at once. */
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write("\ninterrupted: saving a checkpoint (Ctrl-C again to quit now)\n");
    controller.abort();
  };
  process.on("SIGINT", onSigint);
  return { signal: controller.signal, dispose: () => process.off("SIGINT", onSigint) };
}

const minutes = (s: number) =>
  `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, "0")}`;

export async function trainCommand(opts: Record<string, unknown>): Promise<void> {
  const given = configFromFlags(opts);
  if (opts.optimizer !== undefined) given.optimizer = opts.optimizer;
  let config: TrainConfig;
  let out: string;
  if (opts.resume !== undefined) {
    out = String(opts.resume);
    if (!hasCheckpoint(out)) throw new UsageError(`cannot resume: no checkpoint in ${out}`);
    const trainerJson = join(checkpointPath(out), "trainer.json");
    let saved: TrainConfig;
    try {
      saved = JSON.parse(readFileSync(trainerJson, "utf8")).config as TrainConfig;
    } catch (error) {
      throw new UsageError(`corrupt checkpoint: ${trainerJson}: ${(error as Error).message}`);
    }
    config = validateConfig({ ...saved, ...given });
  } else {
    config = validateConfig(given);
    out = String(opts.out ?? config.out ?? join("runs", `${timestamp()}-${config.optimizer}`));
  }
  const interrupt = interruptSignal();
  try {
    const result = await train({
      config,
      out,
      resume: opts.resume !== undefined,
      quiet: Boolean(opts.quiet),
      signal: interrupt.signal,
    });
    if (result.interrupted) {
      process.stdout.write(
        `interrupted at step ${result.step}; resume with: rankwise train --resume ${out}\n`,
      );
      process.exitCode = 130;
      return;
    }
    const bpc = (result.valLoss / Math.LN2).toFixed(3);
    process.stdout.write(
      `final validation loss ${result.valLoss.toFixed(4)} (perplexity ${Math.exp(result.valLoss).toFixed(2)}, ` +
        `${bpc} bits/token) after ${result.step} steps in ${minutes(result.elapsed)}\n`,
    );
    if (result.sample) process.stdout.write(`sample:\n${result.sample}\n`);
    process.stdout.write(`report: ${join(out, "report.html")}\n`);
  } finally {
    interrupt.dispose();
  }
}
