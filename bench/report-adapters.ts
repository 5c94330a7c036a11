/**
 * docs/benchmarks.md's section for bench/adapters.ts: one table (trained and stored parameters,
 * optimizer state, adapter bytes, step time, SOTU and Moby Dick losses) and one chart (SOTU gain
 * and Moby Dick forgetting per type, docs/charts/<name>-losses.svg), then each paper's claim
 * beside a sentence read off the numbers. bench/report.ts calls {@link adaptersSection}.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ADAPTER_CLAIMS } from "./adapter-claims.js";
import { ROOT } from "./common.js";
import { barChart } from "./svg-bars.js";

/** Result files are plain JSON. */
type Json = any;

const DOCS = join(ROOT, "docs");
const fmt = (x: number | null | undefined, digits = 3): string =>
  x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits);
const signed = (x: number, digits = 3) => `${x >= 0 ? "+" : ""}${fmt(x, digits)}`;
const count = (n: number) => n.toLocaleString("en-US");
const kib = (n: number | null | undefined) =>
  n === null || n === undefined ? "–" : `${(n / 1024).toFixed(1)} KiB`;
const names = (rows: Json[]) => rows.map((t) => t.label.split(" ")[0]).join(", ");
const table = (head: string[], rows: (string | number)[][]): string =>
  [
    `| ${head.join(" | ")} |`,
    `| ${head.map((_h, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");

/** A sentence read off one row, set against LoRA's, to stand beside the paper's claim. */
function measured(t: Json, lora: Json | undefined): string {
  const gain = t.sotuBefore - t.sotuAfter;
  const own = `SOTU −${fmt(gain, 3)}, Moby Dick ${signed(t.mobyDelta)}`;
  if (!lora || t === lora) return `${count(t.trained)} trained parameters; ${own}.`;
  const loraGain = lora.sotuBefore - lora.sotuAfter;
  const share = loraGain > 0 ? `, ${fmt((100 * gain) / loraGain, 0)}% of LoRA's SOTU gain` : "";
  return `${fmt(t.trained / lora.trained, 2)}× LoRA's trained parameters, ${fmt(t.stateBytes / lora.stateBytes, 2)}× its optimizer state, ${fmt(t.stepRatio, 2)}× its step time; ${own}${share}.`;
}

export function adaptersSection(name: string, r: Json, header: string): string {
  const b = r.budget;
  const p = r.pretrain;
  const rows: Json[] = r.table;
  const lora = rows.find((t) => t.peftType === "LORA");
  mkdirSync(join(DOCS, "charts"), { recursive: true });
  const chart = `charts/${name}-losses.svg`;
  writeFileSync(
    join(DOCS, chart),
    barChart(
      rows.map((t) => t.label),
      [
        {
          label: "SOTU gain (val loss before − after)",
          values: rows.map((t) => t.sotuBefore - t.sotuAfter),
        },
        {
          label: "Moby Dick forgetting (val loss after − pretrained)",
          values: rows.map((t) => t.mobyDelta),
        },
      ],
      { x: "nats per byte" },
    ),
  );
  const main = rows.map((t) => [
    t.label,
    t.targetModules.join(", "),
    `${count(t.trained)}${lora ? ` (${fmt(t.trained / lora.trained, 2)}×)` : ""}`,
    count(t.stored),
    `${kib(t.stateBytes)}${lora ? ` (${fmt(t.stateBytes / lora.stateBytes, 2)}×)` : ""}`,
    kib(t.adapterBytes),
    `${fmt(t.meanStepMs, 0)}${t.stepRatio === null ? "" : ` (${fmt(t.stepRatio, 2)}×)`}`,
    fmt(t.sotuAfter, 3),
    `${fmt(t.mobyAfter, 3)} (${signed(t.mobyDelta)})`,
  ]);
  const claims = rows.map((t) => {
    const c = ADAPTER_CLAIMS[t.peftType];
    return [t.label, c ? `${c.paper} (${c.source})` : "–", c?.claim ?? "–", measured(t, lora)];
  });
  // AdamW keeps two float32 moments per entry: more than 8 bytes per trained parameter means
  // the state also covers tensors that never train (frozen factors kept in the adapter).
  const undeclared = rows.filter((t) => t.stored > t.trained);
  // AdaLoRA's extra state is its rank allocator's (two importance averages per trained entry).
  const padded = rows.filter(
    (t) => t.peftType !== "ADALORA" && t.stateBytes > 8 * t.trained * 1.001,
  );
  const adalora = rows.find((t) => t.peftType === "ADALORA");
  const loaded = rows.filter((t) => Math.max(t.load?.start ?? 0, t.load?.end ?? 0) > 3);
  const missing = [
    ...(r.pending ?? []).map((m: string) => `${m} (not run yet)`),
    ...(r.skipped ?? []).map((s: Json) => `${s.method} (${s.reason})`),
  ];
  return `## Adapter types${r.quick ? " (quick)" : ""}: every registered type at LoRA r=8's budget

The pretrained \`${b.model}\` model of the fine-tuning benchmark (Moby Dick, ${p.steps} steps,
${count(p.params)} parameters; Moby Dick validation loss ${fmt(p.mobyValLoss)}, SOTU
${fmt(p.sotuValLoss)}) fine-tuned on SOTU for ${b.steps} steps with LoRA r=8 and with every
adapter type registered in \`src/peft/types/\` (the list is read from the registry), each through
\`rankwise finetune --adapter <type> --rank r --alpha r\` (LoTR: \`--alpha 1\`, its authors' scale) with AdamW at 3e-3 (LoRA's rate in the
fine-tuning benchmark), seed ${b.seed}, batch ${b.batchSize} × ${b.seqLen}, on the type's PEFT
default targets. Each type's rank is the one whose *trained* parameter count lands nearest LoRA
r=8's ${count(r.loraBudget)} (ranks 1–1024 sized on the model's shapes; a type whose count does
not depend on the rank, like IA³, has none). Trained parameters are those a gradient reached
(AdamW's first moment not all zero at the end); "finetune's count" is the trainable count
\`rankwise finetune\` reports (its start row), which leaves out the frozen tensors a type
declares${undeclared.length > 0 ? ` (it counts undeclared frozen factors too for ${names(undeclared)})` : ""}.${padded.length > 0 ? ` The optimizer state (AdamW: two float32 moments, 8 bytes per trained parameter) also covers the frozen tensors kept in the adapter for ${names(padded)}: they cost state without training.` : ""}${adalora ? " AdaLoRA's state also holds its rank allocator's two importance averages (sensitivity and uncertainty) per trained entry." : ""}
Step ms: mean per step over log intervals without compilation or an evaluation, in brackets
the ratio to LoRA's; the runs took turns on a loaded two-core machine, so step times carry
the load's noise${loaded.length > 0 ? ` (measured while the 1-minute load average was above 3, so slowed by it: ${names(loaded)})` : ""}. Moby Dick: \`rankwise eval <run> --data moby-dick\` on the adapted model, in
brackets its change from the pretrained model (forgetting when positive). Series:
\`bench/results/${name}.json\`.${missing.length > 0 ? `\n\nNot in this table: ${missing.join(", ")}.` : ""}

${header}

${table(
  [
    "adapter",
    "targets",
    "trained parameters (×LoRA)",
    "finetune's count",
    "optimizer state (×LoRA)",
    "adapter file",
    "step ms (×LoRA)",
    "SOTU val after",
    "Moby Dick val after",
  ],
  main,
)}

SOTU before fine-tuning: ${fmt(rows[0]?.sotuBefore)}.

![SOTU gain and Moby Dick forgetting per adapter type](${chart})

Each paper's claim beside what this run measured. The papers measured at 7B LLaMA or
RoBERTa/BERT/T5 scale (some on vision or medical models) over thousands of steps; this is a
${count(p.params)}-parameter byte-level model, ${b.steps} steps and one seed — a check that each
type trains and what it costs here, not a test of the claims:

${[
  "| adapter | paper | claim | measured here |",
  "| --- | --- | --- | --- |",
  ...claims.map((c: string[]) => `| ${c.join(" | ")} |`),
].join("\n")}
`;
}
