/**
 * The calibration flags `prune` and `quantize` share — `--calibration <corpus|file>`,
 * `--samples n`, `--seq-len t`, `--seed n` — and the new `--out` folder check: parsed before the
 * model is opened (bad input fails fast), then turned into calibration token ids with the model's
 * own tokenizer (weights/calibration.ts draws the windows). Bad input: one UsageError line naming
 * the flag and what it accepts.
 *
 * Default data: --calibration, else the run's own training data (trainer.json), else moby-dick.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { DEFAULT_CORPUS, loadCorpus } from "../data/corpus.js";
import { UsageError } from "../engine/errors.js";
import type { OpenedModel } from "../nn/open-model.js";
import { readTrainerMeta } from "../train/checkpoint.js";
import { CALIBRATION_DEFAULTS, calibrationTokens } from "../weights/calibration.js";

type Flags = Record<string, string | boolean | undefined>;

/** Calibration ids as the model-level drivers take them. */
export interface CalibrationInput {
  tokens: Int32Array;
  samples: number;
  seqLen: number;
}

/** An integer flag ≥ min. */
export function integerFlag(flag: string, value: unknown, min: number): number {
  const n = Number(value);
  if (typeof value !== "string" || value.trim() === "" || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${flag} must be an integer ≥ ${min}, got "${value}"`);
  }
  return n;
}

/** `--out`: required, and a new or empty folder. */
export function newOutFolder(opts: Flags): string {
  if (typeof opts.out !== "string") throw new UsageError("--out is required: a new folder");
  const out = opts.out;
  if (existsSync(out) && (!statSync(out).isDirectory() || readdirSync(out).length > 0)) {
    throw new UsageError(`--out ${out} is not an empty folder: choose a new folder for the model`);
  }
  return out;
}

/** `--samples`, `--seq-len` (undefined: decided once the model's context is known), `--seed`. */
export function calibrationFlags(opts: Flags): {
  samples: number;
  seqLen: number | undefined;
  seed: number;
} {
  const samples =
    opts.samples === undefined
      ? CALIBRATION_DEFAULTS.samples
      : integerFlag("samples", opts.samples, 1);
  const seqLen = opts.seqLen === undefined ? undefined : integerFlag("seq-len", opts.seqLen, 2);
  const seed =
    opts.seed === undefined ? CALIBRATION_DEFAULTS.seed : integerFlag("seed", opts.seed, 0);
  return { samples, seqLen, seed };
}

/** The calibration data's name and, when `needed`, its text (read before the model opens). */
export function calibrationText(
  spec: string,
  opts: Flags,
  needed: boolean,
): { dataName: string; text: string | undefined } {
  const dataName =
    (opts.calibration as string | undefined) ??
    readTrainerMeta(spec)?.config.data ??
    DEFAULT_CORPUS;
  if (!needed) return { dataName, text: undefined };
  try {
    return { dataName, text: loadCorpus(dataName).text };
  } catch (error) {
    throw new UsageError(`--calibration: ${(error as Error).message.replace(/^corpus: /, "")}`);
  }
}

/** --seq-len, defaulting to min(128, context) and refused above the model's context. */
export function calibrationSeqLen(seqLen: number | undefined, maxPos: number): number {
  const t = seqLen ?? Math.min(CALIBRATION_DEFAULTS.seqLen, maxPos);
  if (t > maxPos) {
    throw new UsageError(
      `--seq-len ${t} is longer than the model's context (max_position_embeddings ${maxPos})`,
    );
  }
  return t;
}

/** The calibration ids: `text` tokenised with the model's tokenizer, windows drawn with `seed`. */
export function calibrationInput(
  opened: OpenedModel,
  dataName: string,
  text: string,
  { samples, seqLen, seed }: { samples: number; seqLen: number; seed: number },
): CalibrationInput {
  let ids: Int32Array;
  try {
    ids = opened.tokenizer.encode(text);
  } catch (error) {
    throw new UsageError(
      `--calibration ${dataName} does not fit the model's tokenizer: ${(error as Error).message.replace(/^encode: /, "")}`,
    );
  }
  try {
    return { tokens: calibrationTokens(ids, { samples, seqLen, seed }), samples, seqLen };
  } catch (error) {
    throw new UsageError(`--calibration ${dataName}: ${(error as Error).message}`);
  }
}
