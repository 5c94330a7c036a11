/**
 * docs/benchmarks.md's section for bench/profile.ts: one training step of the default model split
 * into phases (wall time at one and two threads, kernel count and kernel time at one thread, the
 * host/dispatch remainder), the step's matmul FLOP against the isolated matmul rate (issue 16's
 * goal: step ≤ 1.5 × matmul time), kernel time by kind, and the largest kernel groups.
 * bench/report.ts calls {@link profileSection} with the common header.
 */

/** Result files are plain JSON. */
type Json = any;

/** Kernel groups listed in the page (the JSON keeps them all). */
const TOP = 15;
/** As bench/report.ts: others' average core use above this marks a measurement as loaded. */
const BUSY_CORES = 0.25;

const fmt = (x: number | null | undefined, digits = 1): string =>
  x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits);
const pct = (x: number): string => `${fmt(100 * x, 1)} %`;
const table = (head: string[], rows: (string | number)[][]): string =>
  [
    `| ${head.join(" | ")} |`,
    `| ${head.map((_h, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");

function phaseTable(r: Json): string {
  const s = r.step;
  const rows = r.phases.map((p: Json) => [
    p.phase,
    fmt(p.wallMs1, 2),
    p.kernels ?? "–",
    fmt(p.kernelMs, 2),
    fmt(p.overheadMs, 2),
    fmt(p.wallMs2, 2),
  ]);
  rows.push([
    "**step** (phases summed)",
    `**${fmt(s.splitMs1, 1)}**`,
    `**${s.kernels}**`,
    `**${fmt(s.kernelMs, 1)}**`,
    `**${fmt(s.splitMs1 - s.kernelMs, 1)}**`,
    `**${fmt(s.splitMs2, 1)}**`,
  ]);
  rows.push([
    "plain step (train-throughput's)",
    fmt(s.plainMs1, 1),
    "",
    "",
    "",
    fmt(s.plainMs2, 1),
  ]);
  return table(
    [
      "phase",
      "1 thread ms",
      "kernels",
      "kernel ms (1 thread)",
      "host & dispatch ms",
      "2 threads ms",
    ],
    rows,
  );
}

function kindTable(r: Json): string {
  const rows = r.kinds.map((k: Json) => [
    k.kind,
    k.count,
    fmt(k.ms, 1),
    pct(k.share),
    k.flop > 0 ? fmt(k.flop / 1e9, 2) : "–",
    fmt(k.gflops, 1),
  ]);
  return table(["kind", "kernels", "ms", "share of step", "GFLOP", "GFLOP/s"], rows);
}

function groupTable(r: Json): string {
  const rows = r.groups
    .slice(0, TOP)
    .map((g: Json) => [
      g.kind,
      g.shape,
      g.phases.join(", "),
      g.count,
      fmt(g.ms, 2),
      pct(g.ms / r.step.splitMs1),
      g.flop > 0 ? fmt(g.flop / g.ms / 1e6, 1) : "–",
      g.variants,
    ]);
  return table(
    ["kind", "shape", "phase", "kernels", "ms", "share of step", "GFLOP/s", "expressions"],
    rows,
  );
}

/** Host time per kernel in the phases that run many kernels. */
const perKernel = (r: Json): string =>
  r.phases
    .filter((p: Json) => (p.kernels ?? 0) >= 50)
    .map((p: Json) => `${fmt((1000 * p.overheadMs) / p.kernels, 0)} µs in ${p.phase}`)
    .join(", ");

/** What V8's CPU samples of the plain step say about host time (robust to load). */
function cpuSentence(r: Json): string {
  const wasm = r.cpu?.categories.find((c: Json) => c.category === "wasm kernels");
  if (!wasm || r.step.hostMsFromSamples === undefined) return "";
  return `V8's CPU samples of the plain step (below) put ${pct(wasm.share)} of the main thread's time in wasm kernels, so its host work is about ${fmt(r.step.hostMsFromSamples, 1)} ms per step (kernel time × samples outside kernels / samples in them, which load does not inflate).`;
}

function cpuTable(r: Json): string {
  if (!r.cpu) return "";
  const rows = r.cpu.categories.map((c: Json) => [c.category, fmt(c.ms, 1), pct(c.share)]);
  const fns = r.cpu.functions
    .slice(0, 8)
    .map((f: Json) => `\`${f.name}\` ${fmt(f.ms, 1)}`)
    .join(", ");
  return `CPU samples of ${r.steps} plain steps at one thread (V8's profiler every ${r.cpu.intervalUs} µs, self time; ms per step, inflated by load like the wall times, while the shares are not):

${table(["where", "sampled ms per step", "share"], rows)}

JavaScript functions with the most self time (ms per step): ${fns}.
`;
}

/** Sentences read off the numbers, so that they stay true when the numbers change. */
function notes(r: Json): string {
  const s = r.step;
  const m = r.matmul;
  const linear = r.kinds.find((k: Json) => k.kind === "matmul");
  const attention = r.kinds.find((k: Json) => k.kind === "attention matmul");
  const iso = m.isolated.map((x: Json) => `${x.shape} ${fmt(x.gflops, 1)}`).join(", ");
  const ref = m.matmulJson
    ? ` (bench/results/matmul.json, ${m.matmulJson.date.slice(0, 10)}: square ${m.matmulJson.op} ${Object.entries(
        m.matmulJson.gflops,
      )
        .map(([n, g]) => `${n}: ${fmt(g as number, 1)}`)
        .join(", ")} GFLOP/s)`
    : "";
  const worst = [...r.phases].sort((a: Json, b: Json) => b.overheadMs - a.overheadMs)[0];
  const others2 = r.childLoads.find((l: Json) => l.threads === 2)?.others;
  const loaded2 = Number.isFinite(others2) && others2 > r.machine.cores - 2 + BUSY_CORES;
  const lines = [
    `The step's matrix products do ${fmt(m.flop / 1e9, 2)} GFLOP (linear layers, and the embedding where it is a one-hot product: ${fmt((linear?.flop ?? 0) / 1e9, 2)}, attention ${fmt((attention?.flop ?? 0) / 1e9, 2)}); their kernels take ${fmt(m.kernelMs, 1)} ms, ${fmt(m.gflopsInStep, 1)} GFLOP/s.`,
    `Alone, the model's two MLP products run at up to ${fmt(m.isolatedGflops, 1)} GFLOP/s with one thread (best calls: ${iso})${ref}; at that rate the step's matmuls would take ${fmt(m.msAtIsolatedRate, 1)} ms, and the plain step takes **${fmt(m.stepOverMatmul, 2)}×** that (issue 16's goal: at most 1.5×).`,
    `Kernels account for ${fmt(s.kernelMs, 1)} ms of the ${fmt(s.splitMs1, 1)} ms step; the other ${fmt(s.splitMs1 - s.kernelMs, 1)} ms is host work between them (JavaScript building, hashing and dispatching the kernels, garbage collection) plus any time the process lost to other processes, most of it in the ${worst.phase} phase (${fmt(worst.overheadMs, 1)} ms for ${worst.kernels} kernels; per kernel ${perKernel(r)}).`,
    cpuSentence(r),
    `The shortest kernel took ${fmt(s.minKernelMs * 1000, 0)} µs, a floor on one kernel's cost.`,
    `Tracing itself slows the step to ${fmt(s.tracedMs1, 1)} ms.`,
    loaded2
      ? `The two-thread column was measured while other processes used ${fmt(others2, 2)} of the ${r.machine.cores} cores: it shows the load more than two-thread scaling.`
      : `Two threads run the plain step ${fmt(s.twoOverOne, 2)}× as fast as one.`,
  ];
  return lines.join(" ");
}

export function profileSection(name: string, r: Json, header: string): string {
  return `## Training-step profile${name.endsWith("-quick") ? " (quick run)" : ""}

\`bench/profile.ts\`: one training step of the ${r.model} model (${fmt(r.params / 1e6, 2)} M parameters, vocabulary ${r.vocab}) at batch ${r.batch} × sequence ${r.seqLen} — train-throughput's step plus the trainer's gradient-norm read — split into phases, each ended by \`blockUntilReady\`. After ${r.warmup} warm-up steps, wall times are medians over ${r.steps} steps; the plain step (no phase syncs, no gradient-norm read) is the median of ${r.children?.[0]?.plainStepMsAll?.length ?? r.steps} more. Kernel times come from jax-js's profiler (\`jax.profiler.startTrace()\`) at one thread, where each kernel runs synchronously inside its dispatch: each kernel position's minimum over ${r.step.tracedSteps ?? r.steps} traced steps, so they are robust to load while the wall times are not (a negative host remainder means the wall times were taken under load). With two threads kernels run in worker threads, so only wall times are given. A matmul is a sum-reduction of the product of two operands broadcast along different output axes (FLOP = 2 · outputs · reduced length); "attention" ones have batch and head axes; the layout says which operand is read transposed (A·Bᵀ reads both along K, the layout of \`x · Wᵀ\`). "expressions" counts the distinct kernels in a group.

${header}

${phaseTable(r)}

${notes(r)}

${cpuTable(r)}
${kindTable(r)}

The ${Math.min(TOP, r.groups.length)} largest kernel groups (of ${r.groups.length}):

${groupTable(r)}
`;
}
