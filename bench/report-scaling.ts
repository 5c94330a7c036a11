/**
 * docs/benchmarks.md's section for bench/scaling.ts: tokens/s and peak memory of one training
 * step across model presets and sequence lengths, one thread, each row beside PyTorch + BLAS with
 * the ratio measured side by side; two charts of peak memory (against parameters and against
 * sequence length). bench/report.ts calls {@link scalingSection} with the common header. Every
 * sentence is read off the result file; the PyTorch columns are left out when the file does not
 * show an optimised BLAS.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { lineChart } from "./svg-chart.js";

/** Result files are plain JSON. */
type Json = any;

const fmt = (x: number | null | undefined, digits = 0): string =>
  x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits);
const range = (xs: number[], digits: number): string => {
  const [lo, hi] = [Math.min(...xs), Math.max(...xs)];
  return lo === hi ? fmt(lo, digits) : `${fmt(lo, digits)}–${fmt(hi, digits)}`;
};
const table = (head: string[], rows: (string | number)[][]): string =>
  [
    `| ${head.join(" | ")} |`,
    `| ${head.map((_h, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");

function rowCells(t: Json, first: string, withTorch: boolean): string[] {
  const ours = [
    first,
    count(t.params),
    `${t.batch} × ${t.seq}`,
    `${fmt(t.rankwise.tokensPerSec)} (${range(t.rankwise.roundTokensPerSec, 0)})`,
  ];
  const torch = withTorch
    ? [
        `${fmt(t.pytorch.tokensPerSec)} (${range(t.pytorch.roundTokensPerSec, 0)})`,
        `${fmt(t.rankwiseOverPytorch, 2)}× (${range(t.roundRatios, 2)})`,
      ]
    : [];
  const memory = [fmt(t.rankwise.peakRssMiB), fmt(t.rankwise.wasmHeapMiB)];
  return [
    ...ours,
    ...torch,
    ...memory,
    ...(withTorch ? [fmt(t.pytorch.peakRssMiB)] : []),
    fmt(t.rankwise.compileMs / 1000, 1),
  ];
}

function memoryChart(rows: Json[], x: (t: Json) => number, label: string, withTorch: boolean) {
  const series = [
    { label: "Rankwise peak RSS", points: rows.map((t) => [x(t), t.rankwise.peakRssMiB]) },
    { label: "Rankwise wasm heap", points: rows.map((t) => [x(t), t.rankwise.wasmHeapMiB ?? NaN]) },
  ];
  if (withTorch)
    series.push({
      label: "PyTorch peak RSS",
      points: rows.map((t) => [x(t), t.pytorch.peakRssMiB]),
    });
  return lineChart(series as { label: string; points: [number, number][] }[], {
    x: label,
    y: "MiB",
  });
}

const count = (n: number): string => n.toLocaleString("en-US");

/** "from A (first) to B (last)" of one field over some rows. */
const span = (rows: Json[], get: (t: Json) => number, digits = 0, unit = ""): string =>
  `${fmt(get(rows[0]), digits)}${unit} to ${fmt(get(rows.at(-1)), digits)}${unit}`;

export function scalingSection(name: string, r: Json, header: string, docsDir: string): string {
  const withTorch = r.baseline?.blas?.optimised === true;
  const models = r.table.filter((t: Json) => t.groups.includes("model"));
  const seqs = r.table
    .filter((t: Json) => t.groups.includes("seq"))
    .sort((a: Json, b: Json) => a.seq - b.seq);
  const charts = { model: `charts/${name}-memory-model.svg`, seq: `charts/${name}-memory-seq.svg` };
  writeFileSync(
    join(docsDir, charts.model),
    memoryChart(models, (t) => t.params / 1e6, "parameters (millions)", withTorch),
  );
  writeFileSync(
    join(docsDir, charts.seq),
    memoryChart(seqs, (t) => t.seq, `sequence length (${r.seqModel} preset)`, withTorch),
  );
  const head = [
    "tokens/s Rankwise (per round)",
    ...(withTorch ? ["tokens/s PyTorch (per round)", "Rankwise / PyTorch (per round)"] : []),
    "Rankwise peak RSS MiB",
    "wasm heap MiB",
    ...(withTorch ? ["PyTorch peak RSS MiB"] : []),
    "first step s",
  ];
  const modelTable = table(
    ["preset", "parameters", "batch × seq", ...head],
    models.map((t: Json) => rowCells(t, t.model, withTorch)),
  );
  const seqTable = table(
    ["sequence", "parameters", "batch × seq", ...head],
    seqs.map((t: Json) => rowCells(t, String(t.seq), withTorch)),
  );
  const ratio = (t: Json) => t.rankwiseOverPytorch;
  const notes = [
    `From ${models[0].model} to ${models.at(-1).model} (${count(models[0].params)} to ${count(models.at(-1).params)} parameters), Rankwise's peak RSS goes from ${span(models, (t) => t.rankwise.peakRssMiB, 0, " MiB")} and its wasm heap from ${span(models, (t) => t.rankwise.wasmHeapMiB, 0, " MiB")}${withTorch ? `; PyTorch's peak RSS from ${span(models, (t) => t.pytorch.peakRssMiB, 0, " MiB")}. The speed ratio goes from ${span(models, ratio, 2, "×")}` : ""}.`,
    `At ${count(r.tokensPerStep)} tokens per step, sequence ${seqs[0].seq} to ${seqs.at(-1).seq} changes Rankwise's tokens/s from ${span(seqs, (t) => t.rankwise.tokensPerSec)}${withTorch ? ` (PyTorch: ${span(seqs, (t) => t.pytorch.tokensPerSec)}; ratio ${span(seqs, ratio, 2, "×")})` : ""}, its peak RSS from ${span(seqs, (t) => t.rankwise.peakRssMiB, 0, " MiB")} and its wasm heap from ${span(seqs, (t) => t.rankwise.wasmHeapMiB, 0, " MiB")}.`,
    withTorch
      ? ""
      : "PyTorch comparison withheld: this result file does not show PyTorch calling an optimised BLAS, and a ratio against the reference BLAS would mislead.",
  ].join(" ");
  return `## Scaling${r.quick ? " (quick run)" : ""}: model size and sequence length, one thread

\`bench/scaling.ts\`: one training step as in the training-throughput section (jit'ed loss and
gradient, clipping to 1, AdamW, update, loss read back; \`bench/step-child.ts\`) on one thread, at
${count(r.tokensPerStep)} tokens per step: every preset at batch ${r.tokensPerStep / r.modelSeq} × sequence
${r.modelSeq}, and the ${r.seqModel} preset at sequence ${seqs.map((t: Json) => t.seq).join(", ")} with
the batch cut to keep the tokens per step fixed (batch ${seqs.map((t: Json) => t.batch).join(", ")}), so
that only the attention's share of the work grows. ${withTorch ? "PyTorch runs the same shapes (`bench/torch_llama.py`, grouped-query attention included) with every thread pool pinned to one thread. " : ""}Each (row, engine) is its own process; rounds alternate the engines row by row
(${r.rounds} round(s) of ${r.warmup} untimed and ${r.steps} timed steps), so each row's ratio is
measured side by side, per round in brackets. Peak RSS is the process's maximum resident set;
the wasm heap is the byte length of jax-js's WebAssembly memory at the end of the run, which only
grows (its allocator keeps freed blocks on free lists), so it is the heap's peak. "First step":
the untimed first step, mostly jit compilation.

${header}

${modelTable}

${seqTable}

${notes}

![peak memory against parameters](${charts.model})

![peak memory against sequence length](${charts.seq})
`;
}
