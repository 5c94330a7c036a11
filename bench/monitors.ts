/**
 * Monitors benchmark (issue 14): does the spectral-alignment warning come before a loss spike?
 * AdamW without gradient clipping, its learning rate rising linearly to a peak over 80% of the
 * run (so the rate crosses the stability edge mid-run, after the monitors' warm-up), one run per
 * peak, with `--monitors spectral,alignment,rank --monitor-every 2`; per run:
 *   - the first loss spike: the first logged step after step 20 whose train loss exceeds 1.25×
 *     the lowest loss so far, or the first skipped (non-finite) step;
 *   - the first spectral-alignment warning ("sa-warning" row: max over matrices of
 *     u₁ᵀΔWv₁/‖ΔW‖ above 0.5 with a > 0 in ≥ 70% of them, after the monitors' 50-step warm-up)
 *     and the last one before the spike, and the first gradient spike
 *     the scalar spike monitor flags — the conventional metric the paper compares against;
 *   - the lead of each over the loss spike, and the monitors' cost: step time with monitors over
 *     the same run without them (at the lowest rate).
 * The claim beside it (Qiu et al. 2025, "Spectral Alignment as Predictor of Loss Explosion"):
 * a collapse of SA's sign diversity warns of loss explosions earlier and more clearly than weight
 * or gradient norms. Deviation (src/train/monitors/matrix-stats.ts): the paper's SA aligns layer
 * *inputs* with v₁; ours aligns the *update* with (u₁, v₁), the mechanism its analysis gives.
 *
 *   npm run bench -- monitors            # small preset, 400 steps
 *   npm run bench -- monitors --quick    # tiny preset, 250 steps (minutes on two cores)
 * The first warning of the run and the one in force at the spike are both reported: a warning
 * long before a spike, or in a run that never spikes, is a false alarm, not a lead.
 *
 * Every run goes through the CLI's own code in a child process (bench/cli-runs.ts). Writes
 * bench/results/monitors.json (monitors-quick.json with --quick).
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { benchRun } from "./cli-bench.js";
import { cli, type Row, readRows, stepMs } from "./cli-runs.js";
import { log, round } from "./common.js";

const MONITORS = ["--monitors", "spectral,alignment,rank", "--monitor-every", "2"];

/** First loss spike: loss > 1.25 × the running minimum after step 20, or a skipped step. */
function firstLossSpike(rows: Row[]): number | null {
  let best = Number.POSITIVE_INFINITY;
  for (const r of rows) {
    if (r.type === "skip") return r.step;
    if (r.type !== "train") continue;
    if (r.step > 20 && r.loss > 1.25 * best) return r.step;
    best = Math.min(best, r.loss);
  }
  return null;
}

const firstOf = (rows: Row[], type: string): number | null =>
  rows.find((r) => r.type === type)?.step ?? null;

/** The last warning at or before `step` (the one in force when the spike came). */
const lastBefore = (rows: Row[], type: string, step: number | null): number | null => {
  if (step === null) return null;
  const before = rows.filter((r) => r.type === type && r.step <= step);
  return before.at(-1)?.step ?? null;
};

async function parent(quick: boolean, keep: boolean): Promise<void> {
  const preset = quick
    ? { model: "tiny", steps: 250, batchSize: 8, seqLen: 64, lrs: [0.03, 0.1, 0.3, 1] }
    : { model: "small", steps: 400, batchSize: 16, seqLen: 64, lrs: [0.01, 0.03, 0.1, 0.3, 1] };
  const warmup = Math.round(0.8 * preset.steps);
  const base = (lr: number, out: string) => [
    "train",
    "--model",
    preset.model,
    "--data",
    "moby-dick",
    "--optimizer",
    "adamw",
    "--lr",
    String(lr),
    "--steps",
    String(preset.steps),
    "--batch-size",
    String(preset.batchSize),
    "--seq-len",
    String(preset.seqLen),
    "--warmup",
    String(warmup),
    "--clip-norm",
    "0",
    "--max-bad-steps",
    "3",
    "--log-every",
    "2",
    "--eval-every",
    "0",
    "--checkpoint-every",
    "0",
    "--sample-length",
    "0",
    "--seed",
    "0",
    "--quiet",
    "--out",
    out,
  ];
  await benchRun("monitors", { quick, keep }, async ({ work, write }) => {
    const table: Row[] = [];
    const series: Row[] = [];
    // The children's load records (a diverged child's is lost with its exit code).
    const childLoads: Row[] = [];
    for (const [i, lr] of preset.lrs.entries()) {
      const out = join(work, `run-${i}`);
      log(`monitors: ${i + 1}/${preset.lrs.length} lr ${lr} (${preset.steps} steps)`);
      // A run that diverges exits with 3 (its metrics are complete up to there): not a failure here.
      const child = await cli([...base(lr, out), ...MONITORS]).then(
        (r) => ({ exit: r.code, load: r.load }),
        (error: Error) => {
          if (!/exited with 3$/.test(error.message)) throw error;
          return { exit: 3, load: undefined };
        },
      );
      const exit = child.exit;
      if (child.load !== undefined) childLoads.push(child.load);
      const rows = readRows(out);
      const spike = firstLossSpike(rows);
      const warning = lastBefore(rows, "sa-warning", spike);
      const gradSpike = lastBefore(rows, "spike", spike);
      const monitor = rows.filter((x) => x.type === "monitor");
      table.push({
        lr,
        exit,
        diverged: exit === 3,
        lossSpike: spike,
        firstWarning: firstOf(rows, "sa-warning"),
        warnings: rows.filter((x) => x.type === "sa-warning").length,
        warningBeforeSpike: warning,
        leadSteps: spike !== null && warning !== null ? spike - warning : null,
        gradSpikeBeforeSpike: gradSpike,
        gradLeadSteps: spike !== null && gradSpike !== null ? spike - gradSpike : null,
        firstGradSpike: firstOf(rows, "spike"),
        finalLoss: round(rows.filter((x) => x.type === "train").at(-1)?.loss ?? Number.NaN, 4),
        meanStepMs: round(stepMs(rows, 0).mean, 1),
      });
      series.push({
        lr,
        loss: rows.filter((x) => x.type === "train").map((x) => [x.step, x.loss]),
        saMax: monitor.map((x) => [x.step, x.saMax]),
        saPositive: monitor.map((x) => [x.step, x.saPositive]),
        sigmaMax: monitor.map((x) => [x.step, x.sigmaMax]),
        stableRankMin: monitor.map((x) => [x.step, x.stableRankMin]),
        gradNormMax: monitor.map((x) => [x.step, x.gradNormMax]),
      });
      log(
        `monitors: lr ${lr}: loss spike ${spike ?? "none"}, SA warning before it ${warning ?? "none"}, gradient spike before it ${gradSpike ?? "none"}`,
      );
    }
    // The monitors' cost: the lowest rate again, without monitors.
    const plainOut = join(work, "plain");
    childLoads.push((await cli(base(preset.lrs[0]!, plainOut))).load);
    const plainMs = stepMs(readRows(plainOut), 0).mean;
    write({
      preset,
      warmup,
      monitors: MONITORS.join(" "),
      plainStepMs: round(plainMs, 1),
      monitoredStepMs: table[0]!.meanStepMs,
      childLoads,
      table,
      series,
    });
  });
}

const { values } = parseArgs({
  options: { quick: { type: "boolean", default: false }, keep: { type: "boolean" } },
});
await parent(Boolean(values.quick), Boolean(values.keep));
