/**
 * The matrix monitors in a training run: which steps are monitored (every `monitorEvery` steps,
 * when `monitors` names any group), and the one monitor per run (kept beside the run, not in
 * its checkpoint: monitors only read training, and a resumed run restarts their warm-start
 * vectors). run-step.ts keeps the weights before the step, the gradient and the update of a
 * monitored step's last micro-batch and calls `observeStep`; run-log.ts writes the rows.
 */
import * as tree from "../../engine/tree.js";
import type { TrainConfig } from "../config.js";
import { type MonitorRow, type SaWarningRow, TrainingMonitors } from "./training-monitors.js";

/** What a monitored step yields: the "monitor" row and a spectral-alignment warning, if any. */
export interface MonitorResult {
  row: MonitorRow;
  warning?: SaWarningRow;
}

const monitors = new WeakMap<object, TrainingMonitors>();

/** Whether step `step` (1-based) is monitored. */
export const isMonitorStep = (config: TrainConfig, step: number): boolean =>
  (config.monitors?.length ?? 0) > 0 && step % (config.monitorEvery ?? 10) === 0;

/** The run's monitor (created on first use). */
export function runMonitors(run: { config: TrainConfig }): TrainingMonitors {
  let m = monitors.get(run);
  if (m === undefined) {
    m = new TrainingMonitors({ kinds: run.config.monitors ?? [] });
    monitors.set(run, m);
  }
  return m;
}

/** Observe a monitored step; consumes the three trees it is given. */
export async function observeStep(
  run: { config: TrainConfig },
  step: number,
  taken: { params: tree.Params; grads: tree.Params; updates: tree.Params },
): Promise<MonitorResult> {
  try {
    return await runMonitors(run).observe(step, taken.params, taken.grads, taken.updates);
  } finally {
    tree.dispose([taken.params, taken.grads, taken.updates]);
  }
}

/**
 * What a gradient-spike row and message say about the monitors: the latest monitor step and its
 * spectral alignment, so a spike can be read against them (the report draws spikes on the
 * spectral-alignment chart at that value).
 */
export function monitorLink(run: { config: TrainConfig }): {
  fields: Record<string, number>;
  text: string;
} {
  const last = monitors.get(run)?.last;
  if (!last) return { fields: {}, text: "" };
  const fields: Record<string, number> = { monitorStep: last.step };
  let text = `; monitors at step ${last.step}`;
  if (last.saMax !== undefined) {
    fields.saMax = last.saMax;
    text += `: spectral alignment max ${last.saMax.toPrecision(3)}`;
  }
  return { fields, text: `${text} (report: the spectral-alignment chart)` };
}
