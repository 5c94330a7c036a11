/**
 * docs/benchmarks.md's section for bench/reweight.ts: `--reweight none` against the three
 * dynamic loss-based rules and the focal loss — validation loss against steps, a table of final
 * and mean validation loss and step times, and each rule's claim beside the measurement.
 * bench/report.ts calls {@link reweightSection} with the common header.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { lineChart } from "./svg-chart.js";

/** Result files are plain JSON. */
type Json = any;

const fmt = (x: number, digits = 4) => (Number.isFinite(x) ? x.toFixed(digits) : "–");
const signed = (x: number, digits = 4) => (x > 0 ? `+${x.toFixed(digits)}` : x.toFixed(digits));

export function reweightSection(name: string, r: Json, header: string, docsDir: string): string {
  const b = r.budget;
  const chart = `charts/${name}-val-loss.svg`;
  writeFileSync(
    join(docsDir, chart),
    lineChart(
      r.series.map((s: Json) => ({
        label: s.label,
        points: s.eval.filter((e: Json) => e.step > 0).map((e: Json) => [e.step, e.valLoss]),
      })),
      { x: "step", y: "validation loss (cross-entropy)" },
    ),
  );
  const rows = r.table.map(
    (t: Json, i: number) =>
      `| ${t.label} | \`${t.reweight}\` | ${fmt(t.valFinal)} | ${i === 0 ? "–" : signed(t.valDelta)} | ${fmt(t.valMean)} | ${i === 0 ? "–" : signed(t.meanDelta)} | ${fmt(t.meanStepMs, 0)} (${fmt(t.stepRatio, 2)}×) |`,
  );
  const claims = r.table
    .slice(1)
    .map(
      (t: Json) =>
        `- **${t.label}**: ${t.claim} — *Measured here*: final validation loss ${signed(t.valDelta)}, mean over the run ${signed(t.meanDelta)} against none.`,
    )
    .join("\n");
  return `## Loss reweighting${name.endsWith("-quick") ? " (quick run)" : ""}

\`bench/reweight.ts\`: the ${b.model} preset on ${r.data}, ${b.steps} steps (batch ${b.batchSize} ×
${b.seqLen} characters, AdamW at its default rate, warm-up ${b.warmup}, seed ${b.seed}: the same
initialisation and batches for every row) with each \`--reweight\` rule. The loss-based rules weight
each sequence by its loss within the batch (r = 1); focal reweights tokens. Validation loss is
always the plain cross-entropy (${b.evalBatches} batches every ${b.evalEvery} steps); "mean" averages
it over the evaluations (lower = it came down earlier). The rules add only a few reductions over
the batch's losses per step, so differences in ms/step follow the machine's load during each run.

${header}

| rule | flag | val loss (end) | vs none | val loss (mean) | vs none | ms/step |
| --- | --- | ---: | ---: | ---: | ---: | ---: |
${rows.join("\n")}

![validation loss against steps](${chart})

The claims beside the measurement (one seed, a small character-level model, a short run: a few
hundredths of a nat is within run-to-run noise here):

${claims}
`;
}
