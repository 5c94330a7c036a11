/**
 * How registry entries describe an optimizer and its options. An entry's options come from the
 * factory's exported defaults (`optionSpecs`): names, types and values are the ones the factory
 * really uses, and only the one-line descriptions are written here.
 */
import type { Params } from "../../engine/tree.js";
import type { GradientTransformation, ScalarOrSchedule } from "../../optim/core.js";

/** One option of a registered optimizer: its name, type, default and a short description. */
export interface OptionSpec {
  name: string;
  type: "number" | "boolean" | "string";
  default?: number | boolean | string;
  description: string;
}

/**
 * A registered optimizer: how the CLI and trainer build it by name, its options and its reference.
 */
export interface OptimizerEntry {
  name: string;
  description: string;
  /** What the implementation was checked against. */
  reference: string;
  /** Options besides `learningRate` (which the trainer supplies as a schedule). */
  options: OptionSpec[];
  /** Learning rate used when the user gives none. */
  defaultLearningRate: number;
  /** Build the optimizer from its options and the learning rate (a number or a schedule). */
  create(
    options: Record<string, unknown> & { learningRate: ScalarOrSchedule },
  ): GradientTransformation<any>;
  /** Extra numbers for the metrics rows, read from this optimizer's own state. */
  metrics?(state: unknown): Record<string, number>;
  /**
   * Weight prediction (XGrad): the weights the next gradient is taken at, from the weights
   * (consumed), this optimizer's own state (borrowed), the learning-rate schedule and the options;
   * without it the gradient is taken at the weights themselves.
   */
  predict?(
    params: Params,
    state: unknown,
    schedule: (step: number) => number,
    options: Record<string, unknown>,
  ): Params;
}

/** Descriptions of Adam's options, shared by the entries built on Adam's moments. */
export const ADAM_DESCRIPTIONS = {
  b1: "first-moment decay",
  b2: "second-moment decay",
  eps: "denominator epsilon",
} as const;

/** Descriptions of Adafactor's options (relative step apart), for it and GaLore over it. */
export const ADAFACTOR_DESCRIPTIONS = {
  eps1: "regulariser of g²",
  eps2: "parameter-scale floor",
  clipThreshold: "update RMS clip",
  decayRate: "second-moment decay exponent",
  b1: { type: "number", description: "first-moment decay (unset: no first moment)" },
  weightDecay: "weight decay (decoupled)",
  scaleParameter: "scale the step by RMS(p)",
} as const;

/**
 * Adafactor's defaults without its relative step: the trainer always gives a learning rate, so
 * `relativeStep` stays false and `warmupInit` (which needs it) is not offered.
 */
export function withoutRelativeStep<D extends { relativeStep?: unknown; warmupInit?: unknown }>(
  defaults: D,
): Omit<D, "relativeStep" | "warmupInit"> {
  const { relativeStep: _relative, warmupInit: _warmup, ...rest } = defaults;
  return rest;
}

type Scalar = number | boolean | string;

/** Option names whose defaults the CLI can show and parse: scalars, or unset (undefined). */
type ListedKeys<D> = {
  [K in keyof D]-?: D[K] extends Scalar | undefined ? K : never;
}[keyof D];

/** An option without a default (undefined in the defaults object) states its type. */
export interface UnsetOption {
  type: OptionSpec["type"];
  description: string;
}

/**
 * One description per listed option of `D`: a string, or for an unset option its type too. A
 * missing description, or one for an option the defaults lack, is a type error.
 */
export type OptionDescriptions<D> = {
  [K in ListedKeys<D>]: undefined extends D[K] ? UnsetOption : string;
};

/**
 * Option specs from a factory's defaults object, in its order: each scalar option with its type and
 * default, each unset one with the type its description gives. Non-scalar defaults (masks, nested
 * options, pairs) are not listed: the CLI cannot give them.
 */
export function optionSpecs<D extends object>(
  defaults: D,
  descriptions: OptionDescriptions<D>,
): OptionSpec[] {
  const described = descriptions as Record<string, string | UnsetOption>;
  const specs: OptionSpec[] = [];
  for (const [name, value] of Object.entries(defaults)) {
    const d = described[name];
    if (value !== undefined && !["number", "boolean", "string"].includes(typeof value)) continue;
    if (d === undefined) throw new Error(`option ${name} has no description`);
    specs.push(
      typeof d === "string"
        ? {
            name,
            type: typeof value as OptionSpec["type"],
            default: value as Scalar,
            description: d,
          }
        : { name, type: d.type, description: d.description },
    );
  }
  for (const name of Object.keys(described)) {
    if (!(name in defaults)) throw new Error(`description of unknown option ${name}`);
  }
  return specs;
}
