/** `rankwise train`: one run, with progress, checkpoints, resume and a report. */
import { readFileSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { lockOwner } from "../io/lock.js";
import { checkpointPath, hasCheckpoint } from "../train/checkpoint.js";
import { type TrainConfig, UsageError, validateConfig } from "../train/config.js";
import { verifyManifest } from "../train/manifest.js";
import { savedStartConfig } from "../train/run-announce.js";
import { train } from "../train/trainer.js";
import { configFromFlags } from "./train-flags.js";

export const timestamp = () => new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);

/** The signals that stop a run the way Ctrl-C does. */
const STOP_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** The conventional exit code of a process stopped by `signal`: 128 + its number. */
export const signalExitCode = (signal: NodeJS.Signals) => 128 + constants.signals[signal];

/**
 * Abort on Ctrl-C, SIGTERM or SIGHUP so the trainer can checkpoint where it stopped; a second
 * signal exits at once (the folder stays usable: see run-open.ts). `exitCode()` is 128 + the
 * number of the first signal received (130, 143, 129).
 */
export function interruptSignal(): { signal: AbortSignal; dispose(): void; exitCode(): number } {
  const controller = new AbortController();
  let received: NodeJS.Signals = "SIGINT";
  const handlers = STOP_SIGNALS.map((sig) => {
    const handler = () => {
      if (controller.signal.aborted) process.exit(signalExitCode(received));
      received = sig;
      if (sig === "SIGHUP") {
        // The terminal is gone: writing to it fails (EIO, EPIPE); save the checkpoint anyway.
        for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});
      }
      process.stderr.write(
        sig === "SIGINT"
          ? "\ninterrupted: saving a checkpoint (Ctrl-C again to quit now)\n"
          : `\n${sig}: saving a checkpoint (${sig} again to quit now)\n`,
      );
      controller.abort();
    };
    process.on(sig, handler);
    return () => process.off(sig, handler);
  });
  return {
    signal: controller.signal,
    dispose: () => {
      for (const off of handlers) off();
    },
    exitCode: () => signalExitCode(received),
  };
}

/**
 * The configuration a run folder was trained with: its checkpoint's (verified against the
 * manifest first, so damage is named before any of it is used), else — a run stopped before its
 * first checkpoint — its start row's.
 */
function savedConfig(out: string): TrainConfig {
  // A folder being written may be mid-save: say it is in use, not that it looks damaged.
  const owner = lockOwner(out);
  if (owner !== undefined) {
    throw new UsageError(
      `${out} is in use by process ${owner.pid} on ${owner.host} (since ${owner.since}); wait for it to finish`,
    );
  }
  if (hasCheckpoint(out)) {
    verifyManifest(checkpointPath(out));
    const trainerJson = join(checkpointPath(out), "trainer.json");
    try {
      return JSON.parse(readFileSync(trainerJson, "utf8")).config as TrainConfig;
    } catch (error) {
      throw new UsageError(`corrupt checkpoint: ${trainerJson}: ${(error as Error).message}`);
    }
  }
  const start = savedStartConfig(out);
  if (start === undefined) throw new UsageError(`cannot resume: no checkpoint in ${out}`);
  return start;
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
    config = validateConfig({ ...savedConfig(out), ...given });
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
      process.exitCode = interrupt.exitCode();
      return;
    }
    const bpc = (result.bitsPerChar ?? result.valLoss / Math.LN2).toFixed(3);
    process.stdout.write(
      `final validation loss ${result.valLoss.toFixed(4)} (perplexity ${Math.exp(result.valLoss).toFixed(2)}, ` +
        `${bpc} bits/char) after ${result.step} steps in ${minutes(result.elapsed)}\n`,
    );
    if (result.sample) {
      process.stdout.write(
        `sample, continuing ${JSON.stringify(result.prompt ?? "")}:\n${result.sample}\n`,
      );
    }
    process.stdout.write(`report: ${join(out, "report.html")}\n`);
  } finally {
    interrupt.dispose();
  }
}
