/** Option checks shared by every factory: one-line errors naming the option and what it accepts. */
import { OptionError, OptionTypeError } from "../engine/errors.js";
import type { ScalarOrSchedule } from "./core.js";

const show = (v: unknown) => (typeof v === "number" ? String(v) : JSON.stringify(v));

function number(name: string, v: unknown): number {
  if (typeof v !== "number" || Number.isNaN(v)) {
    throw new OptionTypeError(`${name} must be a number, got ${show(v)}`);
  }
  return v;
}

/** v ≥ 0 (finite). */
export function nonNegative(name: string, v: unknown): number {
  const x = number(name, v);
  if (!(x >= 0) || !Number.isFinite(x))
    throw new OptionError(`${name} must be ≥ 0, got ${show(v)}`);
  return x;
}

/** v > 0 (finite). */
export function positive(name: string, v: unknown): number {
  const x = number(name, v);
  if (!(x > 0) || !Number.isFinite(x)) throw new OptionError(`${name} must be > 0, got ${show(v)}`);
  return x;
}

/** 0 ≤ v < 1, as for decay rates and betas. */
export function unitInterval(name: string, v: unknown): number {
  const x = number(name, v);
  if (!(x >= 0 && x < 1)) throw new OptionError(`${name} must be in [0, 1), got ${show(v)}`);
  return x;
}

/** Integer ≥ min. */
export function integer(name: string, v: unknown, min = 0): number {
  const x = number(name, v);
  if (!Number.isInteger(x) || x < min) {
    throw new OptionError(`${name} must be an integer ≥ ${min}, got ${show(v)}`);
  }
  return x;
}

export function boolean(name: string, v: unknown): boolean {
  if (typeof v !== "boolean")
    throw new OptionTypeError(`${name} must be true or false, got ${show(v)}`);
  return v;
}

/** One of the listed strings. */
export function oneOf<T extends string>(name: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) {
    throw new OptionError(`${name} must be one of ${allowed.join(", ")}; got ${show(v)}`);
  }
  return v as T;
}

/** A learning rate ≥ 0, or a schedule function (checked when evaluated). */
export function learningRate(v: unknown, name = "learningRate"): ScalarOrSchedule {
  if (typeof v === "function") return v as ScalarOrSchedule;
  return nonNegative(name, v);
}

/** Reject option names the factory does not know (catches typos such as `beta1`). */
export function knownOptions(factory: string, opts: object, allowed: readonly string[]): void {
  for (const key of Object.keys(opts)) {
    if (!allowed.includes(key)) {
      throw new OptionTypeError(
        `${factory}: unknown option "${key}" (accepted: ${allowed.join(", ")})`,
      );
    }
  }
}

type AdamKey = "b1" | "b2" | "eps";

/**
 * Adam's hyperparameters, checked wherever they appear: b1, b2 ∈ [0, 1) and eps ≥ 0, each only if
 * `o` has it (a method may take only some of them). Returns them as numbers.
 */
export function adamOptions<T extends Partial<Record<AdamKey, unknown>>>(
  o: T,
): { [K in keyof T & AdamKey]: number } {
  const out: Partial<Record<AdamKey, number>> = {};
  if ("b1" in o) out.b1 = unitInterval("b1", o.b1);
  if ("b2" in o) out.b2 = unitInterval("b2", o.b2);
  if ("eps" in o) out.eps = nonNegative("eps", o.eps);
  return out as { [K in keyof T & AdamKey]: number };
}
