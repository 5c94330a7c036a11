/** The run's learning-rate schedule, built from its configuration. */
import type { Schedule } from "../optim/core.js";
import {
  joinSchedules,
  linearSchedule,
  warmupCosineDecaySchedule,
  warmupLinearDecaySchedule,
  warmupStableDecaySchedule,
} from "../optim/schedules.js";
import type { TrainConfig } from "./config.js";

export function learningRateSchedule(config: TrainConfig, peak: number): Schedule {
  const warmup = config.warmup;
  const total = Math.max(config.decaySteps ?? config.steps, warmup + 1);
  switch (config.schedule) {
    case "constant":
      return joinSchedules([linearSchedule(0, peak, warmup), () => peak], [warmup]);
    case "cosine":
      return warmupCosineDecaySchedule({
        peak,
        warmupSteps: warmup,
        decaySteps: total,
        end: peak * 0.1,
      });
    case "linear":
      return warmupLinearDecaySchedule({ peak, warmupSteps: warmup, decaySteps: total, end: 0 });
    case "wsd":
      return warmupStableDecaySchedule({
        peak,
        warmupSteps: warmup,
        totalSteps: total,
        decayFraction: 0.2,
      });
  }
}
