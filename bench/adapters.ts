/**
 * Adapter-type benchmark (issue 11): the pretrained model of the fine-tuning benchmark
 * (bench/finetune.ts, same budgets, same cached Moby Dick pretraining) fine-tuned on SOTU with
 * LoRA r=8 and with EVERY registered adapter type (src/peft/types/, read from the registry, not
 * listed here), each at a rank chosen so that its trained-parameter count lands near LoRA r=8's.
 * Per type: trained and stored parameters, optimizer-state bytes, adapter bytes on disk, step
 * time, SOTU loss before/after, Moby Dick loss after (forgetting), and the paper's claim.
 *
 *   npm run bench -- adapters [--quick]          # every type
 *   npx tsx bench/adapters.ts --quick --only vera,loha   # re-run some, merged into the results
 *   npx tsx bench/adapters.ts --steps 150          # fine-tuning steps other than the preset's
 *
 * "Trained" parameters: several types keep frozen tensors inside the adapter (VeRA's shared
 * projections, LoRA-XS's SVD factors, ...); `finetune`'s own count (its start row, recorded as
 * `stored`) leaves out those a type declares frozen, and the optimizer keeps no state for them
 * (the freezing trainer). The benchmark counts a tensor as trained when its AdamW first moment
 * (checkpoint/optimizer.safetensors, "…mu.<key>") exists and is not all zero after the run, i.e.
 * a gradient reached it. Budget matching uses that rule too: a 4-step probe of each type on the
 * tiny smoke model says which tensor names train; ranks 1…1024 are then sized on the
 * benchmark model's shapes (src/peft/types/apply.ts `typedShapes`) and the nearest to LoRA's
 * count wins (ties: the smaller rank). alpha = rank (α/r = 1, as LoRA's 8/8), except LoTR, whose
 * factors start N(0, 1) rather than LoRA's ~1/√in: it keeps its authors' scale 1 (α/r = 1/r,
 * daskol/lotr LoTRLinear's default), since α/r = 1 multiplies its updates by r; targets are each
 * type's PEFT default. Step time as bench/finetune.ts (`stepMs`: compile and eval intervals
 * left out). Writes bench/results/adapters.json (adapters-quick.json with --quick).
 */
import { existsSync, readFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ADAPTER_CLAIMS } from "./adapter-claims.js";
import { benchRun, runArgv, runRows } from "./cli-bench.js";
import {
  type Budget,
  cli,
  cliMany,
  evalRun,
  FULL_BUDGET,
  pretrain,
  pretrainSummary,
  QUICK_BUDGET,
  type Row,
  runFlags,
  SMOKE_BUDGET,
  stepMs,
} from "./cli-runs.js";
import { log, mean, RESULTS_DIR, round } from "./common.js";

/** One adapter of the comparison: its `finetune` method and chosen rank. */
interface Choice {
  method: string;
  peftType: string;
  title: string;
  rank: number;
  /** Trained parameters predicted from the shapes and the probe's trained names. */
  predicted: number;
  /** Whether the rank changes the count (IA³'s does not: the label then shows no rank). */
  ranked: boolean;
}

/** The run's alpha: the rank (α/r = 1), or LoTR's authors' scale 1 (see the file header). */
const alphaOf = (c: Choice): number => (c.method === "lotr" ? 1 : c.rank);

/** Tensor names with the layer index folded, so names of any depth compare. */
const fold = (key: string) => key.replace(/\.layers\.\d+\./, ".layers.*.");

/** Per tensor key of a run's adapter: whether AdamW's first moment moved (a gradient reached it). */
async function trainedKeys(run: string): Promise<Map<string, { size: number; moved: boolean }>> {
  const path = join(run, "checkpoint", "optimizer.safetensors");
  const { readSafetensorsHeader } = await import("../src/io/safetensors.js");
  const header = await readSafetensorsHeader(path);
  const out = new Map<string, { size: number; moved: boolean }>();
  const file = await open(path, "r");
  try {
    for (const t of header.tensors) {
      const m = /(?:^|\.)mu\.(.+)$/.exec(t.name);
      if (!m || t.dtype !== "F32") continue;
      const bytes = Buffer.alloc(t.byteSize);
      await file.read(bytes, 0, t.byteSize, 8 + header.headerBytes + t.dataOffsets[0]);
      const values = new Float32Array(bytes.buffer, bytes.byteOffset, t.byteSize / 4);
      out.set(m[1]!, { size: values.length, moved: values.some((v) => v !== 0) });
    }
  } finally {
    await file.close();
  }
  return out;
}

/** The registered types with a `finetune` method (LoRA's family is bench/finetune.ts's). */
async function registeredTypes(only: string[] | undefined) {
  const { adapterTypes } = await import("../src/peft/types/registry.js");
  await import("../src/peft/types/any.js"); // registers the built-in types
  const types = adapterTypes().filter((t) => t.methods.length > 0);
  if (only === undefined) return types;
  const known = types.map((t) => t.methods[0]!);
  const bad = only.filter((m) => m !== "lora" && !known.includes(m));
  if (bad.length > 0)
    throw new RangeError(`--only ${bad.join(",")}: unknown (accepted: lora, ${known.join(", ")})`);
  return types.filter((t) => only.includes(t.methods[0]!));
}

/** Trained tensor names (folded) per method: a short probe run of each on the smoke model. */
async function probeTrained(methods: string[], work: string): Promise<Map<string, Set<string>>> {
  const pre = await pretrain(SMOKE_BUDGET);
  const dirs = methods.map((m) => join(work, `probe-${m}`));
  const argvs = methods.map((m, i) => [
    "finetune",
    "--model",
    pre.run,
    "--data",
    "sotu",
    "--adapter",
    m,
    "--rank",
    "4",
    "--alpha",
    "4",
    "--steps",
    "4",
    "--batch-size",
    "2",
    "--seq-len",
    "16",
    "--eval-every",
    "0",
    "--sample-length",
    "0",
    "--quiet",
    "--out",
    dirs[i]!,
  ]);
  // cliMany stops at a failing command: go on after it with the rest.
  for (let from = 0; from < argvs.length; ) {
    const done = await cliMany(argvs.slice(from));
    from += done.length;
  }
  // Trained names: those whose first moment moved (frozen tensors have none, or a zero one).
  const trained = new Map<string, Set<string>>();
  for (const [i, m] of methods.entries()) {
    if (!existsSync(join(dirs[i]!, "checkpoint", "optimizer.safetensors"))) continue;
    const keys = await trainedKeys(dirs[i]!);
    trained.set(m, new Set([...keys].filter(([, v]) => v.moved).map(([k]) => fold(k))));
  }
  return trained;
}

/** The rank whose predicted trained count is nearest `target` on the base's shapes. */
async function chooseRank(
  type: { peftType: string; title: string; methods: string[] },
  trained: Set<string>,
  baseShapes: Record<string, number[]>,
  target: number,
): Promise<Choice | undefined> {
  const { typedConfigFromSettings, planAny } = await import("../src/peft/types/any.js");
  const { typedShapes } = await import("../src/peft/types/apply.js");
  const method = type.methods[0]!;
  let best: Choice | undefined;
  const counts = new Set<number>();
  for (let rank = 1; rank <= 1024; rank++) {
    let count: number;
    try {
      const config = typedConfigFromSettings(method, {
        rank,
        alpha: rank,
        target: null,
        baseModel: null,
      });
      const plan = planAny(config, baseShapes) as Parameters<typeof typedShapes>[0];
      count = 0;
      for (const [key, shape] of Object.entries(typedShapes(plan, baseShapes)))
        if (trained.has(fold(key))) count += shape.reduce((a, b) => a * b, 1);
    } catch {
      continue; // this rank does not fit the model (e.g. above min(in, out))
    }
    counts.add(count);
    const better =
      best === undefined || Math.abs(count - target) < Math.abs(best.predicted - target);
    if (better)
      best = {
        ranked: true,
        method,
        peftType: type.peftType,
        title: type.title,
        rank,
        predicted: count,
      };
  }
  return best && { ...best, ranked: counts.size > 1 };
}

/** HF name → shape of the pretrained run's model. */
async function modelShapes(run: string): Promise<Record<string, number[]>> {
  const { readSafetensorsHeader } = await import("../src/io/safetensors.js");
  const header = await readSafetensorsHeader(join(run, "checkpoint", "model.safetensors"));
  return Object.fromEntries(header.tensors.map((t) => [t.name, t.shape]));
}

/** One fine-tuning run through the CLI and its measurements. */
async function measure(
  c: Choice,
  base: string,
  out: string,
  budget: Budget,
  common: string[],
  pretrained: Row,
): Promise<{ row: Row; series: Row }> {
  const lr = 3e-3; // bench/finetune.ts's adapter rate (LoRA's), for every type
  const flags = ["--adapter", c.method, "--rank", String(c.rank), "--alpha", String(alphaOf(c))];
  const r = await cli(
    runArgv("finetune", { model: base, data: "sotu", flags, lr, budget }, common, out),
  );
  if (r.code !== 0) throw new Error(`finetune --adapter ${c.method} exited with ${r.code}`);
  const { rows, train, evals } = runRows(out);
  const start = rows.find((x) => x.type === "start")!;
  const last = train.at(-1)!;
  const keys = await trainedKeys(out);
  const trained = [...keys.values()].filter((v) => v.moved).reduce((a, v) => a + v.size, 0);
  const moby = await evalRun(out, "moby-dick", budget);
  const times = stepMs(rows, budget.evalEvery);
  const sotuBefore = evals.find((x) => x.step === 0)!.valLoss as number;
  const sotuAfter = evals.at(-1)!.valLoss as number;
  const claim = ADAPTER_CLAIMS[c.peftType] ?? { paper: "–", claim: "–" };
  const row: Row = {
    label: c.ranked ? `${c.title} r=${c.rank}` : c.title,
    method: c.method,
    peftType: c.peftType,
    rank: c.rank,
    alpha: alphaOf(c),
    lr,
    targetModules: [...new Set((start.targetModules as string[]).map((n) => n.split(".").at(-1)))],
    predictedTrained: c.predicted,
    trained,
    stored: start.trainableParameters as number,
    baseParams: start.baseParameters as number,
    stateBytes: last.stateBytes as number,
    adapterBytes: (rows.filter((x) => x.type === "adapter").at(-1)?.bytes as number) ?? null,
    meanStepMs: round(times.mean, 1),
    medianStepMs: round(times.median, 1),
    sotuBefore: round(sotuBefore, 4),
    sotuAfter: round(sotuAfter, 4),
    mobyAfter: round(moby.loss, 4),
    mobyDelta: round(moby.loss - pretrained.mobyValLoss, 4),
    trainLossFinal: round(mean(train.slice(-5).map((x) => x.loss as number)), 4),
    elapsedS: round(last.elapsed as number, 1),
    peakRssMiB: round(r.peakRssMiB, 0),
    load: r.load,
    paper: claim.paper,
    claim: claim.claim,
  };
  const series = {
    label: row.label,
    train: train.map((x) => ({ step: x.step, loss: x.loss })),
    eval: evals.map((x) => ({ step: x.step, valLoss: x.valLoss })),
  };
  return { row, series };
}

async function parent(
  quick: boolean,
  smoke: boolean,
  only: string[] | undefined,
  steps: number | undefined,
): Promise<void> {
  const preset: Budget = smoke ? SMOKE_BUDGET : quick ? QUICK_BUDGET : FULL_BUDGET;
  const budget: Budget = steps === undefined ? preset : { ...preset, steps };
  const name = smoke ? "adapters-smoke" : quick ? "adapters-quick" : "adapters";
  await benchRun("adapters", { quick, smoke }, async ({ work, write }) => {
    const common = runFlags(budget, join(work, "settings.json"));
    const types = await registeredTypes(only);
    const pre = await pretrain(budget);
    const pretrained = await pretrainSummary(pre, budget);
    const shapes = await modelShapes(pre.run);
    // LoRA r=8 on q_proj/v_proj (PEFT's default, bench/finetune.ts's): the budget to match.
    const loraCount = Object.entries(shapes)
      .filter(([k]) => /\.(q_proj|v_proj)\.weight$/.test(k))
      .reduce((a, [, s]) => a + 8 * (s[0]! + s[1]!), 0);
    log(`adapters: LoRA r=8 trains ${loraCount} parameters; probing ${types.length} types`);
    const trained = await probeTrained(
      types.map((t) => t.methods[0]!),
      work,
    );
    const choices: Choice[] = [];
    if (only === undefined || only.includes("lora"))
      choices.push({
        method: "lora",
        peftType: "LORA",
        title: "LoRA",
        rank: 8,
        predicted: loraCount,
        ranked: true,
      });
    const skipped: Row[] = [];
    for (const t of types) {
      const f = trained.get(t.methods[0]!);
      const c = f && (await chooseRank(t, f, shapes, loraCount));
      if (c) choices.push(c);
      else skipped.push({ method: t.methods[0], reason: f ? "no rank fits" : "probe run failed" });
    }
    // With --only, rows of other methods come from the previous results (same budget).
    const previousPath = join(RESULTS_DIR, `${name}.json`);
    const prev =
      only !== undefined && existsSync(previousPath)
        ? (JSON.parse(readFileSync(previousPath, "utf8")) as Row)
        : undefined;
    const order = ["lora", ...(await registeredTypes(undefined)).map((t) => t.methods[0]!)];
    const rerun = new Set([...choices.map((c) => c.method), ...skipped.map((s) => s.method)]);
    const table: Row[] = [];
    const series: Row[] = [];
    // Written after every run, so a long benchmark keeps what it measured if it is stopped.
    const save = () => {
      const kept = ((prev?.table ?? []) as Row[]).filter((r) => !rerun.has(r.method));
      const labels = new Set(kept.map((r) => r.label));
      const rows = [...kept, ...table].sort(
        (a, b) => order.indexOf(a.method) - order.indexOf(b.method),
      );
      const lora = rows.find((r) => r.peftType === "LORA");
      for (const t of rows) {
        t.trainedShare = round(t.trained / t.baseParams, 5);
        t.stepRatio = lora ? round(t.meanStepMs / lora.meanStepMs, 2) : null;
      }
      const done = new Set(rows.map((r) => r.method));
      write({
        budget,
        loraBudget: loraCount,
        pretrain: pretrained,
        table: rows,
        series: [...((prev?.series ?? []) as Row[]).filter((x) => labels.has(x.label)), ...series],
        skipped: [
          ...((prev?.skipped ?? []) as Row[]).filter((x) => !rerun.has(x.method)),
          ...skipped,
        ],
        pending: choices.map((c) => c.method).filter((m) => !done.has(m)),
      });
    };
    for (const [i, c] of choices.entries()) {
      log(`adapters: ${i + 1}/${choices.length} ${c.method} rank ${c.rank} (≈${c.predicted})`);
      try {
        const m = await measure(
          c,
          pre.run,
          join(work, `ft-${c.method}`),
          budget,
          common,
          pretrained,
        );
        table.push(m.row);
        series.push(m.series);
        log(
          `adapters: ${c.method}: ${m.row.trained} trained, sotu ${m.row.sotuBefore} → ${m.row.sotuAfter}, moby ${m.row.mobyAfter}, ${m.row.meanStepMs} ms/step`,
        );
      } catch (error) {
        skipped.push({ method: c.method, reason: (error as Error).message.split("\n")[0] });
        log(`adapters: ${c.method} failed: ${(error as Error).message.split("\n")[0]}`);
      }
      save();
    }
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      smoke: { type: "boolean" },
      only: { type: "string" },
      steps: { type: "string" },
    },
  });
  const steps = values.steps === undefined ? undefined : Number(values.steps);
  if (steps !== undefined && !(Number.isInteger(steps) && steps > 0))
    throw new Error(`--steps must be a positive integer, got "${values.steps}"`);
  const only = values.only === undefined ? undefined : values.only.split(",").map((s) => s.trim());
  await parent(Boolean(values.quick), Boolean(values.smoke), only, steps);
}

await main();
