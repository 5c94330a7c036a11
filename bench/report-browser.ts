/**
 * docs/benchmarks.md's section for bench/browser.ts: training tokens/s in headless Chromium on
 * WebGPU (SwiftShader here) and wasm, beside Node's wasm, per preset. bench/report.ts calls
 * {@link browserSection} with the common header (machine, date, load).
 */

/** Result files are plain JSON. */
type Json = any;

const fmt = (x: number | null | undefined, digits = 0): string =>
  x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits);
const table = (head: string[], rows: (string | number)[][]): string =>
  [
    `| ${head.join(" | ")} |`,
    `| ${head.map((_h, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
const range = (xs: number[], digits = 0): string => {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? fmt(lo, digits) : `${fmt(lo, digits)}–${fmt(hi, digits)}`;
};

const LABEL: Record<string, string> = {
  "browser/webgpu": "Chromium, WebGPU (SwiftShader)",
  "browser/wasm": "Chromium, wasm",
  "node/wasm": "Node, wasm",
};

export function browserSection(name: string, r: Json, header: string): string {
  const rows = r.measured.map((m: Json) => {
    const nodeRow = r.measured.find(
      (x: Json) => x.model === m.model && x.where === "node" && x.device === "wasm",
    );
    const others = m.childLoads.map((l: Json) => l.others).filter(Number.isFinite);
    return [
      m.model,
      LABEL[`${m.where}/${m.device}`] ?? `${m.where} ${m.device}`,
      `${m.batch} × ${m.seqLen}`,
      fmt(m.medianStepMs, 1),
      `${fmt(m.tokensPerSec)} (${range(m.roundTokensPerSec)})`,
      `${fmt(m.tokensPerSec / nodeRow.tokensPerSec, 2)}×`,
      others.length > 0 ? range(others, 2) : "–",
    ];
  });
  const models = [...new Set(r.measured.map((m: Json) => m.model))];
  const params = models
    .map(
      (m) => `${m} ${r.measured.find((x: Json) => x.model === m).params.toLocaleString("en-US")}`,
    )
    .join(", ");
  return `## Training in the browser${name.endsWith("-quick") ? " (quick run)" : ""}

Full training steps (jit'ed loss and gradient, global-norm clip to 1, AdamW, parameter update,
loss read back) of the presets (${params} parameters; vocabulary ${r.vocab}) in headless
Chromium, on WebGPU and on wasm in the same page, beside the same function in Node on wasm
(\`bench/browser.ts\`). **There is no GPU on this machine**: WebGPU runs on Chromium's SwiftShader
adapter (${r.adapter ? `${r.adapter.vendor}/${r.adapter.architecture}` : "unknown"}), a CPU
implementation, so the WebGPU column measures that software path, not a GPU. No GPU machine was
available to this measurement. Both wasm columns are single-threaded. ${r.warmupSteps} untimed
warm-up steps (jit compilation), then ${r.steps} timed steps per round over ${r.rounds} round(s);
tokens/s from the median step (in brackets the per-round values).

${header}

${table(["model", "where", "batch × seq", "step ms", "tokens/s", "vs Node wasm", "others' cores"], rows)}
`;
}
