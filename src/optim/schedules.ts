/**
 * Learning-rate schedules: functions of the 0-based step count, as in optax. A schedule is just
 * `(step) => number`, so any function works; these cover the usual shapes.
 */
import type { Schedule } from "./core.js";
import { integer, nonNegative, unitInterval } from "./validate.js";

/** The same value at every step. */
export const constantSchedule =
  (value: number): Schedule =>
  () =>
    value;

/** Linear from `init` to `end` over `steps`, then `end`. */
export function linearSchedule(init: number, end: number, steps: number): Schedule {
  integer("steps", steps);
  return (step) =>
    steps === 0 ? end : init + (end - init) * Math.min(Math.max(step, 0) / steps, 1);
}

/** Cosine from `init` to `alpha·init` over `decaySteps`, then constant. */
export function cosineDecaySchedule(init: number, decaySteps: number, alpha = 0): Schedule {
  integer("decaySteps", decaySteps, 1);
  unitIntervalOrOne("alpha", alpha);
  return (step) => {
    const t = Math.min(Math.max(step, 0), decaySteps) / decaySteps;
    return init * ((1 - alpha) * 0.5 * (1 + Math.cos(Math.PI * t)) + alpha);
  };
}

function unitIntervalOrOne(name: string, v: number) {
  if (v !== 1) unitInterval(name, v);
}

/**
 * Schedules in sequence: `schedules[i]` runs from `boundaries[i-1]` on, seeing steps counted from
 * its own start (optax's join_schedules).
 */
export function joinSchedules(schedules: Schedule[], boundaries: number[]): Schedule {
  if (boundaries.length !== schedules.length - 1) {
    throw new RangeError(
      `boundaries must have one entry fewer than schedules (${schedules.length - 1}), got ${boundaries.length}`,
    );
  }
  boundaries.forEach((b, i) => {
    integer(`boundaries[${i}]`, b);
    if (i > 0 && b < boundaries[i - 1]) throw new RangeError("boundaries must be non-decreasing");
  });
  return (step) => {
    let i = 0;
    while (i < boundaries.length && step >= boundaries[i]) i++;
    return schedules[i](step - (i > 0 ? boundaries[i - 1] : 0));
  };
}

/** Linear warm-up from `init` to `peak`, then cosine decay to `end` at `decaySteps` (total). */
export function warmupCosineDecaySchedule(o: {
  init?: number;
  peak: number;
  warmupSteps: number;
  decaySteps: number;
  end?: number;
}): Schedule {
  const init = nonNegative("init", o.init ?? 0);
  const peak = nonNegative("peak", o.peak);
  const end = nonNegative("end", o.end ?? 0);
  const warmup = integer("warmupSteps", o.warmupSteps);
  const total = integer("decaySteps", o.decaySteps, 1);
  if (warmup > total)
    throw new RangeError(`warmupSteps (${warmup}) must be ≤ decaySteps (${total})`);
  const cosine: Schedule = (step) => {
    const span = total - warmup;
    const t = span === 0 ? 1 : Math.min(step, span) / span;
    return end + (peak - end) * 0.5 * (1 + Math.cos(Math.PI * t));
  };
  return joinSchedules([linearSchedule(init, peak, warmup), cosine], [warmup]);
}

/** Linear warm-up, then linear decay to `end` at `decaySteps` (total). */
export function warmupLinearDecaySchedule(o: {
  init?: number;
  peak: number;
  warmupSteps: number;
  decaySteps: number;
  end?: number;
}): Schedule {
  const warmup = integer("warmupSteps", o.warmupSteps);
  const total = integer("decaySteps", o.decaySteps, 1);
  if (warmup > total)
    throw new RangeError(`warmupSteps (${warmup}) must be ≤ decaySteps (${total})`);
  return joinSchedules(
    [
      linearSchedule(nonNegative("init", o.init ?? 0), nonNegative("peak", o.peak), warmup),
      linearSchedule(o.peak, nonNegative("end", o.end ?? 0), total - warmup),
    ],
    [warmup],
  );
}

/**
 * Warmup-stable-decay (WSD): linear warm-up to `peak`, hold, then decay over the last
 * `decayFraction` of `totalSteps` to `end` (linear, or cosine with `shape: "cosine"`).
 */
export function warmupStableDecaySchedule(o: {
  peak: number;
  warmupSteps: number;
  totalSteps: number;
  decayFraction?: number;
  end?: number;
  shape?: "linear" | "cosine";
}): Schedule {
  const peak = nonNegative("peak", o.peak);
  const end = nonNegative("end", o.end ?? 0);
  const total = integer("totalSteps", o.totalSteps, 1);
  const warmup = integer("warmupSteps", o.warmupSteps);
  const fraction = o.decayFraction ?? 0.1;
  if (!(fraction >= 0 && fraction <= 1)) {
    throw new RangeError(`decayFraction must be in [0, 1], got ${fraction}`);
  }
  const decay = Math.round(total * fraction);
  const stable = total - decay - warmup;
  if (stable < 0) throw new RangeError(`warmupSteps + decay steps exceed totalSteps (${total})`);
  const tail =
    o.shape === "cosine" && decay > 0
      ? (step: number) =>
          end + (peak - end) * 0.5 * (1 + Math.cos((Math.PI * Math.min(step, decay)) / decay))
      : linearSchedule(peak, end, decay);
  return joinSchedules(
    [linearSchedule(0, peak, warmup), constantSchedule(peak), tail],
    [warmup, warmup + stable],
  );
}
