/**
 * What may change when a run is resumed, and checks that a checkpoint fits the run continuing it.
 */
import * as tree from "../engine/tree.js";
import { type TrainConfig, UsageError } from "./config.js";

/** Fields that must match the checkpoint when resuming (the rest may change). */
const FIXED_ON_RESUME: (keyof TrainConfig)[] = [
  "model",
  "data",
  "tokenizer",
  "optimizer",
  "optimizerOptions",
  "lr",
  "schedule",
  "warmup",
  "decaySteps",
  "batchSize",
  "seqLen",
  "seed",
  "clipNorm",
  "accumulate",
  "valFraction",
];

/** Optional fields that must match too (unset in runs that did not use them). */
const FIXED_IF_SET: (keyof TrainConfig)[] = [
  "reweight",
  "pruneData",
  "dataScores",
  "regularizer",
  "gradient",
  "sdd",
  "sltrain",
  "sltrainDensity",
  "sltrainAlpha",
];

/** Throw if `config` cannot continue a checkpoint trained with `saved` up to `step`. */
export function checkResumable(saved: TrainConfig, config: TrainConfig, step: number): void {
  // An unset lr or decaySteps reads as what it means, never as "undefined".
  const show = (key: keyof TrainConfig, v: unknown) =>
    v !== undefined
      ? JSON.stringify(v)
      : key === "lr"
        ? "the optimizer's default"
        : "the default (--steps)";
  for (const key of FIXED_ON_RESUME) {
    if (saved[key] === undefined && key !== "lr" && key !== "decaySteps") {
      throw new UsageError(
        `cannot resume: the checkpoint's trainer.json does not record ${key} (damaged, or written by another version)`,
      );
    }
    if (JSON.stringify(config[key]) !== JSON.stringify(saved[key])) {
      throw new UsageError(
        `cannot resume: ${key} is ${show(key, config[key])} but the checkpoint was trained with ${show(key, saved[key])}`,
      );
    }
  }
  for (const key of FIXED_IF_SET) {
    if (JSON.stringify(config[key]) !== JSON.stringify(saved[key])) {
      const shown = (v: unknown) => (v === undefined ? "unset" : JSON.stringify(v));
      throw new UsageError(
        `cannot resume: ${key} is ${shown(config[key])} but the checkpoint was trained with ${shown(saved[key])}`,
      );
    }
  }
  if (config.steps <= step) {
    throw new UsageError(
      `--steps must be greater than the checkpoint's step (${step}), got ${config.steps}`,
    );
  }
}

/**
 * The loaded optimizer state must have the fresh state's structure: the same paths, and at every
 * path that is an array in the fresh state an array of the same dtype and shape. (Some methods
 * fill in slots that start as null, e.g. a preconditioner computed at its first refresh.)
 */
export function checkStateMatches(
  fresh: tree.Tree<any>,
  loaded: tree.Tree<any>,
  name: string,
): void {
  const describe = (t: tree.Tree<any>) => {
    const out = new Map<string, string | null>();
    tree.walk(t, (leaf, path) =>
      out.set(path, tree.isArray(leaf) ? `${leaf.dtype}[${leaf.shape}]` : null),
    );
    return out;
  };
  const a = describe(fresh);
  const b = describe(loaded);
  const fail = () => {
    throw new UsageError(
      `cannot resume: the checkpoint's optimizer state does not match optimizer ${name}`,
    );
  };
  for (const [path, kind] of a) {
    if (!b.has(path) || (kind !== null && b.get(path) !== kind)) fail();
  }
  for (const path of b.keys()) if (!a.has(path) && !nullPrefix(path, a)) fail();
}

/** A loaded path may sit below a slot that is null in the fresh state. */
const nullPrefix = (path: string, fresh: Map<string, string | null>) =>
  [...fresh].some(([p, kind]) => kind === null && path.startsWith(`${p}.`));
