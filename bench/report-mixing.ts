/**
 * docs/benchmarks.md's section for bench/mixing.ts: uniform, DoReMi, DGA and ODM on Moby Dick +
 * SOTU with SOTU as the target — the target's validation loss against steps, the SOTU weight
 * against steps, a table of final losses, weights and step times, and each paper's claim beside
 * the measurement. bench/report.ts calls {@link mixingSection} with the common header.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { lineChart } from "./svg-chart.js";

/** Result files are plain JSON. */
type Json = any;

const fmt = (x: number | null | undefined, digits = 4): string =>
  x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits);
const signed = (x: number, digits = 4) => (x > 0 ? `+${x.toFixed(digits)}` : x.toFixed(digits));
const table = (head: string[], rows: (string | number)[][]): string =>
  [
    `| ${head.join(" | ")} |`,
    `| ${head.map((_h, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");

export function mixingSection(name: string, r: Json, header: string, docsDir: string): string {
  const target = r.target as string;
  const charts = {
    loss: `charts/${name}-target-loss.svg`,
    weight: `charts/${name}-target-weight.svg`,
  };
  writeFileSync(
    join(docsDir, charts.loss),
    lineChart(
      r.series.map((s: Json) => ({
        label: s.label,
        points: s.eval.map((e: Json) => [e.step, e.byDomain[target]]),
      })),
      { x: "step", y: `${target} validation loss` },
    ),
  );
  writeFileSync(
    join(docsDir, charts.weight),
    lineChart(
      r.series.map((s: Json) => ({
        label: s.label,
        points: s.weights.map((w: Json) => [w.step, w.weights[target]]),
      })),
      { x: "step", y: `${target} weight` },
    ),
  );
  const b = r.budget;
  const rows = r.table.map((t: Json) => [
    t.label,
    fmt(t.targetFinal),
    t.label === "uniform" ? "–" : signed(t.targetDelta),
    fmt(t.targetMean),
    fmt(t.mobyFinal),
    fmt(t.meanFinal),
    fmt(t.finalWeights[target], 3),
    fmt(t.meanTargetWeight, 3),
    `${fmt(t.meanStepMs, 0)} (${fmt(t.stepRatio, 2)}×)`,
  ]);
  const claims = r.table
    .filter((t: Json) => t.paper !== "baseline")
    .map((t: Json) => {
      const verdict =
        t.targetDelta < 0
          ? `target loss ${signed(t.targetDelta)} against uniform`
          : `target loss ${signed(t.targetDelta)} against uniform (no gain)`;
      return `- **${t.label}** (${t.paper}): ${t.claim} — *Measured here*: ${verdict}, Moby Dick ${fmt(t.mobyFinal)}, ${fmt(t.stepRatio, 2)}× uniform's step time.`;
    })
    .join("\n");
  return `## Domain mixing${name.endsWith("-quick") ? " (quick run)" : ""}

\`bench/mixing.ts\`: the ${b.model} preset trained for ${b.steps} steps (batch ${b.batchSize} × ${b.seqLen}
characters, AdamW at its default rate, warm-up ${b.warmup}, seed ${b.seed}) on \`--data ${r.data}\`
with four \`--mixing\` rules: uniform; DoReMi with the uniform run as its \`--reference\`; DGA
with \`--mixing-target ${target}\`, updating every ${r.dgaEvery} steps; ODM. Rows are drawn per
sequence by the current weights. Validation losses are each domain's own (${b.evalBatches}
batches every ${b.evalEvery} steps). "mean ${target}" averages the target's loss over the
evaluations (lower = it came down earlier). Step time includes the rules' extra passes
(DoReMi: a forward of the run and of the reference; ODM: a forward; DGA: three gradients every
${r.dgaEvery} steps).

${header}

${table(
  [
    "rule",
    `${target} final`,
    "vs uniform",
    `mean ${target}`,
    "moby-dick final",
    "mean of both",
    `${target} weight (end)`,
    `${target} weight (mean)`,
    "ms/step",
  ],
  rows,
)}

![${target} validation loss against steps](${charts.loss})

![${target} weight against steps](${charts.weight})

The papers' claims beside the measurement (one seed, a small model and a short run: a
difference of a few hundredths of a nat is within run-to-run noise here):

${claims}
`;
}
