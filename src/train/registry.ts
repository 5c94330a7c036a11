/**
 * The optimizer registry: every optimizer the CLI and trainer can build by name, with its options,
 * defaults and the reference it was checked against. `rankwise optimizers` prints this table.
 */
import { adaptive } from "./optimizers/adaptive.js";
import { classic } from "./optimizers/classic.js";
import { lowRank } from "./optimizers/low-rank.js";
import { matrix } from "./optimizers/matrix.js";
import { round2 } from "./optimizers/round2.js";
import { round2b } from "./optimizers/round2b.js";
import { round2c } from "./optimizers/round2c.js";
import { round2d } from "./optimizers/round2d.js";
import type { OptimizerEntry, OptionSpec } from "./optimizers/spec.js";

export type { OptimizerEntry, OptionSpec } from "./optimizers/spec.js";

const entries = new Map<string, OptimizerEntry>();

/** Add an optimizer to the registry (later families register themselves the same way). */
export function registerOptimizer(entry: OptimizerEntry): void {
  if (entries.has(entry.name)) throw new Error(`optimizer "${entry.name}" is already registered`);
  entries.set(entry.name, entry);
}

/** The names of every registered optimizer, in registration order. */
export function optimizerNames(): string[] {
  return [...entries.keys()];
}

/** The registry entry of an optimizer (throws, listing the accepted names, for an unknown one). */
export function getOptimizer(name: string): OptimizerEntry {
  const entry = entries.get(name);
  if (!entry) {
    throw new RangeError(`unknown optimizer "${name}" (accepted: ${optimizerNames().join(", ")})`);
  }
  return entry;
}

/** Parse "key=value" strings against an optimizer's option specs. */
export function parseOptimizerOptions(
  entry: OptimizerEntry,
  pairs: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(pairs)) {
    const spec = entry.options.find((o) => o.name === key);
    if (key === "learningRate" || key === "lr") {
      throw new RangeError(
        `the learning rate is not an optimizer option: set it with --lr (lr: in a config file)`,
      );
    }
    if (!spec) {
      const accepted = entry.options.map((o) => o.name).join(", ") || "none";
      throw new RangeError(
        `optimizer ${entry.name} has no option "${key}" (accepted: ${accepted})`,
      );
    }
    out[key] = coerce(spec, raw);
  }
  return out;
}

function coerce(spec: OptionSpec, raw: unknown): unknown {
  if (spec.type === "number") {
    const v = typeof raw === "number" ? raw : Number(raw);
    if (typeof raw === "boolean" || raw === "" || Number.isNaN(v)) {
      throw new RangeError(`option ${spec.name} must be a number, got "${String(raw)}"`);
    }
    return v;
  }
  if (spec.type === "boolean") {
    if (raw === true || raw === "true") return true;
    if (raw === false || raw === "false") return false;
    throw new RangeError(`option ${spec.name} must be true or false, got "${String(raw)}"`);
  }
  return String(raw);
}

for (const entry of [
  ...classic,
  ...adaptive,
  ...lowRank,
  ...matrix,
  ...round2,
  ...round2b,
  ...round2c,
  ...round2d,
]) {
  registerOptimizer(entry);
}
