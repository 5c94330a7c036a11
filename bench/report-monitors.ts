/**
 * docs/benchmarks.md's section for bench/monitors.ts: per learning rate, the first loss spike,
 * the spectral-alignment warning and the gradient spike in force before it (and their leads),
 * the monitors' step-time cost, charts of the loss and of the max spectral alignment against
 * steps, and the paper's claim beside the measurement. bench/report.ts calls
 * {@link monitorsSection} with the common header.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { lineChart } from "./svg-chart.js";

/** Result files are plain JSON. */
type Json = any;

const show = (x: number | null | undefined): string =>
  x === null || x === undefined || !Number.isFinite(x) ? "–" : String(x);
const table = (head: string[], rows: (string | number)[][]): string =>
  [
    `| ${head.join(" | ")} |`,
    `| ${head.map((_h, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");

export function monitorsSection(name: string, r: Json, header: string, docsDir: string): string {
  const charts = { loss: `charts/${name}-loss.svg`, sa: `charts/${name}-sa.svg` };
  const label = (s: Json) => `peak lr ${s.lr}`;
  writeFileSync(
    join(docsDir, charts.loss),
    lineChart(
      r.series.map((s: Json) => ({ label: label(s), points: s.loss })),
      { x: "step", y: "train loss" },
    ),
  );
  writeFileSync(
    join(docsDir, charts.sa),
    lineChart(
      r.series.map((s: Json) => ({ label: label(s), points: s.saMax })),
      { x: "step", y: "max spectral alignment" },
    ),
  );
  const rows = r.table.map((t: Json) => [
    String(t.lr),
    show(t.lossSpike),
    show(t.warnings),
    show(t.firstWarning),
    show(t.warningBeforeSpike),
    show(t.leadSteps),
    show(t.gradSpikeBeforeSpike),
    show(t.gradLeadSteps),
    show(t.finalLoss),
  ]);
  const warned = r.table.filter((t: Json) => t.lossSpike !== null && t.leadSteps !== null);
  const spiked = r.table.filter((t: Json) => t.lossSpike !== null);
  const quiet = r.table.filter((t: Json) => t.lossSpike === null && t.warnings > 0);
  const p = r.preset;
  // A warning that also comes in runs that never spike is a false alarm, whatever it preceded.
  const verdict =
    quiet.length > 0
      ? `**Not reproduced by this proxy here**: ${quiet.length} run(s) that never spiked warned ${quiet.map((t: Json) => t.warnings).join(", ")} times, as often as those that did, so a warning does not single out the runs about to explode.`
      : warned.length > 0 && warned.length === spiked.length
        ? "Every spike was preceded by a warning and no stable run warned."
        : "Too few spikes to judge.";
  return `## Monitors: spectral alignment before loss spikes${r.quick ? " (quick)" : ""}

${header}

AdamW on Moby Dick (${p.model} preset, ${p.steps} steps, batch ${p.batchSize}×${p.seqLen}, no gradient
clipping), the learning rate rising linearly to its peak (the table's lr) over ${r.warmup} steps, with
\`${r.monitors}\`. A *loss spike* is the first logged
step after step 20 whose loss exceeds 1.25× the lowest so far, or a skipped (non-finite) step. The
*SA warning* is the monitors' "sa-warning" row (max over matrices of a = u₁ᵀΔWv₁/‖ΔW‖ above 0.5 and
a > 0 in at least 70% of the matrices — the sign-diversity collapse — after a 50-step warm-up); the *gradient spike* is the spike monitor's (norm above 10× its running average).
"Before" is the last one at or before the loss spike; the lead is in steps.

| paper | claim | measured here |
| --- | --- | --- |
| Qiu et al. 2025, *Spectral Alignment as Predictor of Loss Explosion* | A collapse in the sign diversity of the alignment between layer inputs and the weights' top singular vectors warns of loss explosions earlier and more clearly than weight or gradient norms. | ${spiked.length} of ${r.table.length} runs spiked; ${warned.length} of them had an SA warning before the spike${warned.length > 0 ? ` (lead ${warned.map((t: Json) => t.leadSteps).join(", ")} steps)` : ""}; ${quiet.length} run(s) warned without spiking. Our SA aligns the *update* with (u₁, v₁) (the trainer sees no activations): a proxy for the paper's quantity, not the same one. |

${table(["peak lr", "loss spike", "SA warnings", "first SA warning", "SA warning before", "lead", "gradient spike before", "lead", "final loss"], rows)}

${verdict}

Monitoring cost (lowest peak rate, monitors every 2 steps): ${show(r.monitoredStepMs)} ms/step with,
${show(r.plainStepMs)} ms/step without.

![train loss against step](${charts.loss})

![max spectral alignment against step](${charts.sa})
`;
}
