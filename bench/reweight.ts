/**
 * Loss-reweighting benchmark (issue 14.2): the same model, data, seed, steps, batches and
 * optimizer (AdamW at its default rate) trained with `--reweight none` and each alternative —
 * the three dynamic loss-based rules of Sow et al. 2025 (loss-linear = their LinUpper,
 * loss-quadratic, loss-extremes; r = 1) and the focal loss (γ = 2). Per rule: validation loss
 * (plain cross-entropy, the runs' eval rows) against steps, its final and mean value, and the
 * step time; the paper's claims beside the measurement.
 *
 *   npm run bench -- reweight            # small preset, 400 steps on Moby Dick
 *   npm run bench -- reweight --quick    # small preset, 150 steps
 *
 * Every run goes through the CLI's own code in a child process (bench/cli-runs.ts). Writes
 * bench/results/reweight.json (reweight-quick.json with --quick).
 */
import { join } from "node:path";
import { benchFlags, benchRun, comparisonBudget, runArgv, runRows } from "./cli-bench.js";
import { cli, type Row, runFlags, stepMs } from "./cli-runs.js";
import { log, mean, round } from "./common.js";

const DATA = "moby-dick";

const RULES: { label: string; reweight: string; claim: string }[] = [
  { label: "none", reweight: "none", claim: "Every sequence weighs the same (the baseline)." },
  {
    label: "loss-linear (LinUpper)",
    reweight: "loss-linear",
    claim:
      "Down-weights low-loss (redundant, already learned) sequences and caps the high-loss ones. The abstract reports that strategies de-prioritising redundant or uninformative data work best, with faster convergence and better results from 1.4B and 7B pretraining down to linear regression; in the paper's toy regression LinUpper converges fastest of all its strategies.",
  },
  {
    label: "loss-quadratic",
    reweight: "loss-quadratic",
    claim:
      "Favours middling losses (neither the easiest nor the noisiest); in the paper's toy regression it also beats the uniform baseline, behind LinUpper.",
  },
  {
    label: "loss-extremes",
    reweight: "loss-extremes",
    claim:
      "Favours both the easiest and the hardest sequences; it does not de-prioritise redundant data, which is what the abstract finds works best.",
  },
  {
    label: "focal γ=2",
    reweight: "focal:2",
    claim:
      "Lin et al. 2017: down-weighting well-classified tokens by (1 − p)^γ focuses training on hard ones (designed for dense detection's class imbalance, not language modelling).",
  },
];

const { quick, keep, smoke } = benchFlags();
const budget = comparisonBudget(quick, smoke);
await benchRun("reweight", { quick, smoke, keep }, async ({ work, write }) => {
  const common = runFlags(budget, join(work, "settings.json"));
  const table: Row[] = [];
  const series: Row[] = [];
  for (const [i, rule] of RULES.entries()) {
    const out = join(work, `run-${i}`);
    log(`reweight: ${i + 1}/${RULES.length} ${rule.label} (${budget.steps} steps)`);
    const r = await cli(
      runArgv(
        "train",
        { model: budget.model, data: DATA, flags: ["--reweight", rule.reweight], budget },
        common,
        out,
      ),
    );
    const { rows, train, evals } = runRows(out);
    const times = stepMs(rows, budget.evalEvery);
    table.push({
      label: rule.label,
      reweight: rule.reweight,
      claim: rule.claim,
      valFinal: round(evals.at(-1)!.valLoss, 4),
      // Mean over the evaluations: how early the loss came down.
      valMean: round(mean(evals.map((e) => e.valLoss as number)), 4),
      trainFinal: round(train.at(-1)!.loss, 4),
      meanStepMs: round(times.mean, 1),
      elapsedS: round(train.at(-1)!.elapsed as number, 1),
      load: r.load,
    });
    series.push({
      label: rule.label,
      eval: evals.map((x) => ({ step: x.step, valLoss: x.valLoss })),
    });
    log(
      `reweight: ${rule.label}: val ${evals.at(-1)!.valLoss.toFixed(4)}, ${times.mean.toFixed(0)} ms/step`,
    );
  }
  const base = table[0]!;
  for (const t of table) {
    t.valDelta = round(t.valFinal - base.valFinal, 4);
    t.meanDelta = round(t.valMean - base.valMean, 4);
    t.stepRatio = round(t.meanStepMs / base.meanStepMs, 2);
  }
  write({
    budget,
    data: DATA,
    table,
    series,
  });
});
