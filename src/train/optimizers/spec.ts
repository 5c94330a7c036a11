/** How registry entries describe an optimizer and its options. */
import type { GradientTransformation, ScalarOrSchedule } from "../../optim/core.js";

export interface OptionSpec {
  name: string;
  type: "number" | "boolean" | "string";
  default?: number | boolean | string;
  description: string;
}

export interface OptimizerEntry {
  name: string;
  description: string;
  /** What the implementation was checked against. */
  reference: string;
  /** Options besides `learningRate` (which the trainer supplies as a schedule). */
  options: OptionSpec[];
  /** Learning rate used when the user gives none. */
  defaultLearningRate: number;
  create(
    options: Record<string, unknown> & { learningRate: ScalarOrSchedule },
  ): GradientTransformation<any>;
  /** Extra numbers for the metrics rows, read from this optimizer's own state. */
  metrics?(state: unknown): Record<string, number>;
}

export const num = (name: string, def: number | undefined, description: string): OptionSpec => ({
  name,
  type: "number",
  ...(def === undefined ? {} : { default: def }),
  description,
});
export const bool = (name: string, def: boolean, description: string): OptionSpec => ({
  name,
  type: "boolean",
  default: def,
  description,
});

export const b1 = (d = 0.9) => num("b1", d, "first-moment decay");
export const b2 = (d = 0.999) => num("b2", d, "second-moment decay");
export const eps = (d = 1e-8) => num("eps", d, "denominator epsilon");
export const wd = (d: number, kind = "L2") => num("weightDecay", d, `weight decay (${kind})`);

export const str = (name: string, def: string, description: string): OptionSpec => ({
  name,
  type: "string",
  default: def,
  description,
});
