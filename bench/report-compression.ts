/**
 * docs/benchmarks.md's section for bench/compression.ts: validation loss against sparsity for
 * every pruning method (and N:M patterns), loss against stored bytes for quantisation and
 * low-rank compression, tables, two SVG charts (docs/charts/<name>-*.svg) and the papers'
 * claims beside the measured ratios. bench/report.ts calls {@link compressionSection}.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./common.js";
import { lineChart } from "./svg-chart.js";

/** Result files are plain JSON. */
type Json = any;

const DOCS = join(ROOT, "docs");
const fmt = (x: number | null | undefined, digits = 3): string =>
  x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits);
const table = (head: string[], rows: (string | number)[][]): string =>
  [
    `| ${head.join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");

/**
 * Published perplexities on WikiText-2 (Wanda's README, LLaMA-2-7B, 128 C4 calibration
 * sequences of 2048 tokens): dense 5.12.
 */
const LLAMA2_7B = {
  dense: 5.12,
  rows: [
    ["magnitude", "50%", 14.89],
    ["sparsegpt", "50%", 6.51],
    ["wanda", "50%", 6.42],
    ["magnitude", "4:8", 16.48],
    ["sparsegpt", "4:8", 8.12],
    ["wanda", "4:8", 7.97],
    ["magnitude", "2:4", 54.59],
    ["sparsegpt", "2:4", 10.17],
    ["wanda", "2:4", 11.02],
  ] as [string, string, number][],
};

const CLAIMS: [string, string, string][] = [
  [
    "SparseGPT",
    "Frantar & Alistarh 2023 (abstract)",
    "GPT-family models can be pruned to at least 50% sparsity in one shot, without retraining, at minimal loss of accuracy; OPT-175B and BLOOM-176B reach 60% unstructured sparsity with a negligible increase in perplexity.",
  ],
  [
    "Wanda",
    "Sun et al. 2023 (README table)",
    "On LLaMA-2-7B at 50%: WikiText perplexity 6.42 (Wanda) and 6.51 (SparseGPT) against 5.12 dense and 14.89 for magnitude pruning; 2:4 costs more (11.02 / 10.17 / 54.59).",
  ],
  [
    "GPTQ",
    "Frantar et al. 2023 (abstract)",
    "One-shot quantisation to 3 or 4 bits per weight with negligible accuracy degradation relative to the uncompressed model, on models up to 175B parameters.",
  ],
  [
    "OBA",
    "Sun et al. 2025 (abstract)",
    "Computing the Hessian-vector product per parameter (second-order Taylor term) instead of approximating the Hessian prunes more precisely; shown on CNNs and ViT-B/16 (CIFAR, ImageNet), not on language models.",
  ],
];

function chart(file: string, svg: string): string {
  mkdirSync(join(DOCS, "charts"), { recursive: true });
  writeFileSync(join(DOCS, "charts", file), svg);
  return `charts/${file}`;
}

const patternLabel = (p: Json) =>
  p.nm ? `${p.nm[0]}:${p.nm[1]}` : `${Math.round(p.target * 100)}%`;

/** Which compress rows store more than the dense weights, and why (a sentence, or ""). */
function largerNote(r: Json, dense: Json): string {
  const larger = (r.compression ?? []).filter(
    (c: Json) => c.error === undefined && c.parameterBytes > dense.parameterBytes,
  );
  if (larger.length === 0) return "";
  const list = larger.map((c: Json) => `${c.method} at ${c.rankRatio}`).join(", ");
  return `
Stored as factors, ${list} take more bytes than the dense model: a rank-r factorisation of an
m×n matrix stores r·(m + n) values, more than m·n once r > m·n/(m + n), i.e. above half the rank
of a square matrix (LQER and LQ-LoRA add their factors to a quantised W). WeLore keeps a matrix
dense when its factors would not be smaller. \`rankwise compress\` prints the parameter count,
bytes and forward time before and after for each command.
`;
}

export function compressionSection(name: string, r: Json): string {
  const dense = r.dense;
  const ok = (rows: Json[]) => rows.filter((x) => x.error === undefined);
  const methods = [...new Set(r.pruning.map((p: Json) => p.method as string))] as string[];
  const unstructured = (m: string) =>
    ok(r.pruning).filter((p: Json) => p.method === m && p.nm === null);
  const pruneChart = chart(
    `${name}-prune.svg`,
    lineChart(
      methods.map((m) => ({
        label: m,
        points: [
          [0, dense.loss] as [number, number],
          ...unstructured(m).map(
            (p: Json) => [100 * (p.sparsity ?? p.target), p.loss] as [number, number],
          ),
        ],
      })),
      { x: "share of decoder linear weights pruned (%)", y: "validation loss (nats/byte)" },
    ),
  );
  const columns = [...new Set(r.pruning.map((p: Json) => patternLabel(p)))] as string[];
  const pruneRows = methods.map((m) => [
    m,
    ...columns.map((c) => {
      const p = r.pruning.find((x: Json) => x.method === m && patternLabel(x) === c);
      return p === undefined ? "" : p.error !== undefined ? "failed" : fmt(p.loss);
    }),
  ]);
  const best = columns
    .map((c) => {
      const rows = ok(r.pruning).filter((x: Json) => patternLabel(x) === c);
      if (rows.length === 0) return undefined;
      const top = rows.reduce((u: Json, v: Json) => (v.loss < u.loss ? v : u));
      return `${c} ${top.method} (${fmt(top.loss)})`;
    })
    .filter((x) => x !== undefined);
  const failures = [...r.pruning, ...r.quantization, ...(r.compression ?? [])].filter(
    (x: Json) => x.error !== undefined,
  );
  const recovered = r.pruning.filter((x: Json) => x.recovered !== undefined);
  const secondsOf = (m: string) => {
    const s = ok(r.pruning)
      .filter((p: Json) => p.method === m)
      .map((p: Json) => p.seconds as number);
    return s.length ? `${fmt(Math.min(...s), 1)}–${fmt(Math.max(...s), 1)}` : "–";
  };

  const kib = (b: number) => b / 1024;
  const quant = ok(r.quantization);
  const comp = ok(r.compression ?? []);
  const sizeSeries = [
    ...[
      ...new Set(
        quant.map((q: Json) => `${q.method} ${q.groupSize ? `g${q.groupSize}` : "per row"}`),
      ),
    ].map((label) => ({
      label: `${label}`,
      points: quant
        .filter((q: Json) => `${q.method} ${q.groupSize ? `g${q.groupSize}` : "per row"}` === label)
        .map((q: Json) => [kib(q.parameterBytes), q.loss] as [number, number])
        .sort((a: number[], b: number[]) => a[0]! - b[0]!),
    })),
    ...[...new Set(comp.map((c: Json) => c.method as string))].map((m) => ({
      label: m,
      points: comp
        .filter((c: Json) => c.method === m)
        .map((c: Json) => [kib(c.parameterBytes), c.loss] as [number, number])
        .sort((a: number[], b: number[]) => a[0]! - b[0]!),
    })),
    { label: "dense", points: [[kib(dense.parameterBytes), dense.loss] as [number, number]] },
  ];
  const sizeChart =
    quant.length + comp.length > 0
      ? chart(
          `${name}-bytes.svg`,
          lineChart(sizeSeries, {
            x: "stored weight tensors (KiB)",
            y: "validation loss (nats/byte)",
          }),
        )
      : undefined;
  const sizeRows = [
    [
      "dense (float32)",
      "",
      fmt(kib(dense.parameterBytes), 0),
      dense.parameters,
      fmt(dense.loss),
      "",
    ],
    ...r.quantization.map((q: Json) => [
      `quantize ${q.method}`,
      `${q.bits}-bit, ${q.groupSize ? `groups of ${q.groupSize}` : "one scale per row"}`,
      ...(q.error !== undefined
        ? [`failed: ${q.error}`, "", "", ""]
        : [fmt(kib(q.parameterBytes), 0), q.parameters, fmt(q.loss), fmt(q.loss - dense.loss)]),
    ]),
    ...(r.compression ?? []).map((c: Json) => [
      `compress ${c.method}`,
      `rank ratio ${c.rankRatio}`,
      ...(c.error !== undefined
        ? [`failed: ${c.error}`, "", "", ""]
        : [fmt(kib(c.parameterBytes), 0), c.parameters, fmt(c.loss), fmt(c.loss - dense.loss)]),
    ]),
  ];

  const ratio = (m: string, pattern: string) => {
    const p = ok(r.pruning).find((x: Json) => x.method === m && patternLabel(x) === pattern);
    return p ? Math.exp(p.loss - dense.loss) : undefined;
  };
  const claimRows = LLAMA2_7B.rows.map(([m, pattern, ppl]) => [
    m,
    pattern,
    `${ppl} (×${fmt(ppl / LLAMA2_7B.dense, 2)})`,
    `×${fmt(ratio(m, pattern), 3)}`,
  ]);
  const b = r.budget;
  const p = r.pretrain;
  return `## Pruning, quantisation and low-rank compression${r.quick ? " (quick)" : ""}

The \`${b.model}\` preset (${dense.parameters.toLocaleString("en-US")} parameters, byte vocabulary) is
pretrained on Moby Dick for ${p.steps} steps (AdamW ${p.lr}, batch ${p.batchSize} × ${p.seqLen}, seed
${p.seed}; ${p.source}). Every variant is made by the CLI (\`rankwise prune\`, \`quantize\`${r.compression?.length ? ", `compress`" : ""}) and
scored by \`rankwise eval <dir> --data moby-dick --seq-len 64 --batch-size 16 --eval-batches
${r.eval.evalBatches} --json\` (${dense.tokens.toLocaleString("en-US")} validation tokens): loss in nats per byte,
the share of zeros in the decoder linear weights, and the bytes of the weight tensors as stored
(safetensors headers). Calibration: ${r.calibration.samples} sequences of ${r.calibration.seqLen} tokens of the
run's training split, seed 0. Dense loss ${fmt(dense.loss, 4)}. Results:
\`bench/results/${name}.json\`; machine: ${r.machine.cpu}, ${r.threads} thread, ${fmt(r.minutes, 1)} min in all.${
    r.compression?.length
      ? ""
      : " `rankwise compress` was not registered when this ran, so there are no low-rank rows."
  }

Validation loss after pruning (columns: share pruned per matrix or row, or N:M):

${table(["method", ...columns], pruneRows)}

![Validation loss against sparsity](${pruneChart})

Lowest loss per column: ${best.join(", ")}. Seconds per \`prune\` command (calibration
included, process start-up and evaluation not): ${methods.map((m) => `${m} ${secondsOf(m)}`).join(", ")}.${
    failures.length > 0
      ? ` ${failures.length} variant(s) failed; their messages are in the result file.`
      : ""
  }${
    recovered.length > 0
      ? ` ${recovered.length} pruning rows (${[...new Set(recovered.map((x: Json) => x.method))].join(", ")}) come from the log of an earlier run of the same settings that a broken import in the working tree cut short: loss, bytes and seconds as it printed them (their measured sparsity was not printed; the chart places them at the target).`
      : ""
  }

Loss against the bytes of the stored weights:

${table(["variant", "setting", "KiB stored", "stored elements", "val loss", "Δ vs dense"], sizeRows)}
${sizeChart ? `\n![Validation loss against stored bytes](${sizeChart})\n` : ""}${largerNote(r, dense)}
The papers' numbers beside ours. Their perplexities are per token on WikiText-2 for LLaMA-2-7B
(Wanda's README); ours is per byte on Moby Dick for a ${fmt(dense.parameters / 1e6, 2)}M-parameter model,
so only the ratio pruned/dense (e^Δloss for us) is put side by side, and even that is not
expected to carry over: a tiny, byte-level model has far less redundancy than a 7B one.

${table(["method", "pattern", "LLaMA-2-7B ppl (× dense 5.12)", "here: ppl × dense"], claimRows)}

${table(["method", "paper", "claim"], CLAIMS)}
`;
}
