/**
 * Fine-tuning benchmark (issue 10): pretrain a model on Moby Dick with `rankwise train`, then
 * fine-tune it on the State of the Union corpus with full fine-tuning and with the LoRA family
 * (LoRA r=8, rsLoRA, DoRA, PiSSA, OLoRA) — same steps, seed, data order, batch and optimizer
 * (AdamW) — and record per method
 *   - trainable parameters and optimizer-state bytes (the run's metrics rows),
 *   - step time: mean wall time per step from metrics.jsonl, leaving out the first log interval
 *     (jit compilation) and intervals that hold an evaluation,
 *   - SOTU validation loss before (the base, step-0 eval row) and after (the run's last eval),
 *   - Moby Dick validation loss after (forgetting): `rankwise eval <run> --data moby-dick --json`
 *     on the adapted model (a fine-tuning run opens as base + adapter),
 *   - loss curves, and the claim of each method's paper beside the measurement.
 *
 *   npm run bench -- finetune            # default preset, 600 pretraining steps (train's defaults)
 *   npm run bench -- finetune --quick    # small preset, fewer steps (minutes on two cores)
 *
 * Every adapter run and every evaluation goes through the CLI's own code, in child processes;
 * full fine-tuning drives the trainer's own loop (bench/cli-runs.ts, shared with bench/merge.ts).
 * The pretraining run is cached under bench/.cache/pretrain/ and reused by later runs with the
 * same budget (cli-runs.ts `pretrain`).
 *
 * Deviation from `rankwise train`'s defaults: the byte tokenizer. A character vocabulary built
 * from Moby Dick lacks characters SOTU uses (’, “, %, /, …), so a char model cannot read SOTU;
 * bytes cover both. Writes bench/results/finetune.json (finetune-quick.json with --quick).
 */
import { join } from "node:path";
import { benchFlags, benchRun, runArgv, runRows } from "./cli-bench.js";
import {
  type Budget,
  cli,
  evalRun,
  FULL_BUDGET,
  fullFineTune,
  pretrain,
  pretrainSummary,
  QUICK_BUDGET,
  type Row,
  runFlags,
  SMOKE_BUDGET,
  stepMs,
} from "./cli-runs.js";
import { log, mean, round } from "./common.js";

/** One fine-tuning method of the comparison. */
interface Method {
  label: string;
  /** `rankwise finetune` flags; undefined = full fine-tuning. */
  flags?: string[];
  lr: number;
  /** Where the learning rate comes from. */
  lrSource: string;
  paper: string;
  claim: string;
}

/**
 * Learning rates. Pretraining uses AdamW's registry default (3e-3). Full fine-tuning takes a
 * tenth of it; LoRA takes about ten times full fine-tuning's rate (Hu et al. 2021 train LoRA at
 * rates well above full fine-tuning's; Biderman et al. 2024 find LoRA's best rate about an
 * order of magnitude above full fine-tuning's). rsLoRA, DoRA, PiSSA and OLoRA each compare
 * against LoRA at LoRA's hyper-parameters in their papers, so they share LoRA's rate here.
 * Adapters: rank 8, alpha 8 (PEFT's defaults), on q_proj and v_proj (PEFT's LLaMA default and
 * the LoRA paper's Wq, Wv).
 */
const ADAPTER_LR = 3e-3;
const FULL_LR = 3e-4;

const METHODS: Method[] = [
  {
    label: "full fine-tuning",
    lr: FULL_LR,
    lrSource: "a tenth of pretraining's 3e-3",
    paper: "baseline",
    claim: "Every weight trains: the reference the adapters are measured against.",
  },
  {
    label: "LoRA r=8",
    flags: ["--adapter", "lora", "--rank", "8", "--alpha", "8"],
    lr: ADAPTER_LR,
    lrSource: "about 10× full fine-tuning's",
    paper: "Hu et al. 2021",
    claim:
      "A rank-r update of frozen weights matches full fine-tuning's quality with far fewer trainable parameters and far less optimizer memory.",
  },
  {
    label: "rsLoRA r=8",
    flags: ["--adapter", "lora", "--rank", "8", "--alpha", "8", "--rslora"],
    lr: ADAPTER_LR,
    lrSource: "LoRA's",
    paper: "Kalajdzievski 2023",
    claim:
      "Scaling by α/√r instead of α/r keeps learning stable as the rank grows, so higher ranks keep improving; at r=8 only the scale differs (2.83 vs 1).",
  },
  {
    label: "DoRA r=8",
    flags: ["--adapter", "dora", "--rank", "8", "--alpha", "8"],
    lr: ADAPTER_LR,
    lrSource: "LoRA's",
    paper: "Liu et al. 2024",
    claim:
      "Training magnitude and direction separately brings LoRA's results closer to full fine-tuning at no inference cost, for a few more parameters and a slower step.",
  },
  {
    label: "PiSSA r=8",
    flags: ["--adapter", "pissa", "--rank", "8", "--alpha", "8"],
    lr: ADAPTER_LR,
    lrSource: "LoRA's",
    paper: "Meng et al. 2024",
    claim:
      "Starting the adapter from the weight's principal singular vectors (residual frozen) converges faster than LoRA and ends lower.",
  },
  {
    label: "OLoRA r=8",
    flags: ["--adapter", "olora", "--rank", "8", "--alpha", "8"],
    lr: ADAPTER_LR,
    lrSource: "LoRA's",
    paper: "Büyükakyüz 2024",
    claim:
      "Starting the adapter from a QR (orthonormal) factor of the weight converges faster than LoRA.",
  },
];

const { quick, keep, smoke } = benchFlags();
const budget: Budget = smoke ? SMOKE_BUDGET : quick ? QUICK_BUDGET : FULL_BUDGET;
await benchRun("finetune", { quick, smoke, keep }, async ({ work, write }) => {
  const common = runFlags(budget, join(work, "settings.json"));
  const pre = await pretrain(budget);
  const base = pre.run;
  const pretrained = await pretrainSummary(pre, budget);
  log(`finetune: base moby ${pretrained.mobyValLoss}, sotu ${pretrained.sotuValLoss}`);

  const table: Row[] = [];
  const series: Row[] = [];
  for (const [i, m] of METHODS.entries()) {
    const out = join(work, `ft-${i}`);
    log(`finetune: ${i + 1}/${METHODS.length} ${m.label} (${budget.steps} steps)`);
    const r = m.flags
      ? await cli(
          runArgv(
            "finetune",
            { model: base, data: "sotu", flags: m.flags, lr: m.lr, budget },
            common,
            out,
          ),
        )
      : await fullFineTune({ base, out, data: "sotu", budget, lr: m.lr });
    const { rows, train, evals } = runRows(out);
    const start = rows.find((x) => x.type === "start")!;
    const last = train.at(-1)!;
    const moby = await evalRun(out, "moby-dick", budget);
    const sotu = await evalRun(out, "sotu", budget);
    const times = stepMs(rows, budget.evalEvery);
    const sotuBefore = evals.find((x) => x.step === 0)!.valLoss as number;
    const sotuAfter = evals.at(-1)!.valLoss as number;
    table.push({
      label: m.label,
      paper: m.paper,
      claim: m.claim,
      lr: m.lr,
      lrSource: m.lrSource,
      flags: m.flags ?? null,
      trainable: (start.trainableParameters as number | undefined) ?? start.parameters,
      baseParams: start.baseParameters ?? start.parameters,
      stateBytes: last.stateBytes as number,
      meanStepMs: round(times.mean, 1),
      medianStepMs: round(times.median, 1),
      sotuBefore: round(sotuBefore, 4),
      sotuAfter: round(sotuAfter, 4),
      sotuAfterEval: round(sotu.loss, 4),
      mobyAfter: round(moby.loss, 4),
      mobyDelta: round(moby.loss - pretrained.mobyValLoss, 4),
      trainLossFinal: round(mean(train.slice(-5).map((x) => x.loss as number)), 4),
      elapsedS: round(last.elapsed as number, 1),
      peakRssMiB: round(r.peakRssMiB, 0),
      load: r.load,
    });
    series.push({
      label: m.label,
      train: train.map((x) => ({ step: x.step, loss: x.loss, elapsed: x.elapsed })),
      eval: evals.map((x) => ({ step: x.step, valLoss: x.valLoss })),
    });
    log(
      `finetune: ${m.label}: sotu ${sotuBefore.toFixed(4)} → ${sotuAfter.toFixed(4)}, moby ${moby.loss.toFixed(4)}, ${times.mean.toFixed(0)} ms/step`,
    );
  }
  const full = table[0]!;
  for (const t of table) {
    t.trainableShare = round(t.trainable / t.baseParams, 5);
    t.stateRatio = round(t.stateBytes / full.stateBytes, 4);
    t.stepRatio = round(t.meanStepMs / full.meanStepMs, 2);
  }
  write({
    budget,
    targetModules: ["q_proj", "v_proj"],
    rank: 8,
    alpha: 8,
    pretrain: pretrained,
    table,
    series,
  });
});
