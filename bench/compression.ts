/**
 * Pruning, quantisation and low-rank compression benchmark (issue 13): what each method costs in
 * validation loss, against sparsity (pruning) or stored bytes (quantisation, compression).
 *
 *   npm run bench -- compression            # default preset, 600 pretraining steps
 *   npm run bench -- compression --quick    # small preset, 300 pretraining steps
 *
 * The model: `rankwise train` on Moby Dick with the byte tokenizer and the fine-tuning
 * benchmark's pretraining settings (AdamW 3e-3, batch 16 × 64, seed 0). The run is cached:
 * bench/cli-runs.ts's cache entry for the same settings (bench/.cache/pretrain/<model>-<steps>-
 * <hash>/run, when that benchmark made one) is reused, else this benchmark trains one into
 * bench/.cache/compression/<model>-<steps>/run (gitignored; delete it to retrain).
 *
 * Every variant goes through the CLI's own code (src/cli/main.ts `main`, run from source in a
 * child process per variant, stdout captured; one process per variant because wasm memory only
 * grows and ends at 4 GiB): `rankwise prune <run> --method m (--sparsity s | --nm N:M)` for every
 * method of PRUNE_METHODS at 10–70% and 2:4, 4:8; `rankwise quantize` (rtn, gptq × 8, 4 bits × one
 * scale per row and two group sizes, see quantSettings); `rankwise compress` (each method at rank
 * ratios 0.75, 0.5, 0.25) when that command is registered. The same child then scores the folder
 * with `rankwise eval <dir> --data moby-dick --seq-len 64 --batch-size 16 --eval-batches n
 * --json`: validation loss (nats per byte), the share of zeros in the decoder linear weights and
 * the bytes of the stored weight tensors (safetensors headers), so that every number comes from
 * the folders as written. Calibration: the commands' defaults (32 sequences of 128 tokens of the
 * run's own data, seed 0).
 *
 * `--parts prune,quantize,compress` (default all) reruns only those parts; the others keep their
 * rows from the existing result file.
 *
 * Writes bench/results/compression.json (compression-quick.json with --quick); bench/report.ts
 * turns it into docs/benchmarks.md's section and charts (bench/report-compression.ts).
 */
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  BENCH_DIR,
  isChild,
  load1,
  log,
  machine,
  ROOT,
  reportToParent,
  round,
  runChild,
  writeResult,
} from "./common.js";

interface Budget {
  model: string;
  pretrainSteps: number;
  evalBatches: number;
  /** Calibration sequences × tokens (prune's and quantize's defaults, 32 × 128). */
  samples: number;
  calibLen: number;
}

const FULL: Budget = {
  model: "default",
  pretrainSteps: 600,
  evalBatches: 32,
  samples: 32,
  calibLen: 128,
};
const QUICK: Budget = { ...FULL, model: "small", pretrainSteps: 300, evalBatches: 16 };
/** Pipeline check only (not committed). */
const SMOKE: Budget = {
  model: "tiny",
  pretrainSteps: 20,
  evalBatches: 2,
  samples: 4,
  calibLen: 32,
};

const SPARSITIES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7];
const PATTERNS: [number, number][] = [
  [2, 4],
  [4, 8],
];
/**
 * Quantisation settings: rtn and gptq × 8 and 4 bits × one scale per row and two group sizes.
 * The papers' groups of 128 or 64 do not divide these models' intermediate sizes (352, 176), so
 * the groups are the largest power of two dividing every layer input, and half of it.
 */
function quantSettings(hidden: number, intermediate: number) {
  let g = 1;
  while (hidden % (2 * g) === 0 && intermediate % (2 * g) === 0) g *= 2;
  const out: { method: string; bits: number; groupSize?: number }[] = [];
  for (const method of ["rtn", "gptq"]) {
    for (const bits of [8, 4]) {
      for (const groupSize of [undefined, g, g / 2]) out.push({ method, bits, groupSize });
    }
  }
  return out;
}
const COMPRESS_METHODS = ["svd", "fwsvd", "welore", "cur", "lqer", "lq-lora"];
const PARTS = ["prune", "quantize", "compress"] as const;
const RANK_RATIOS = [0.75, 0.5, 0.25];

/** The pretraining flags and settings of bench/cli-runs.ts (same order: same cache hash). */
function pretrainSettings(b: Budget) {
  const full = b.model === "default";
  return {
    model: b.model,
    steps: b.pretrainSteps,
    lr: 3e-3,
    seed: 0,
    batchSize: b.model === "tiny" ? 4 : 16,
    seqLen: b.model === "tiny" ? 32 : 64,
    warmup: b.model === "tiny" ? 5 : 20,
    evalEvery: b.model === "tiny" ? 10 : full ? 50 : 25,
    evalBatches: b.evalBatches,
    logEvery: b.model === "tiny" ? 5 : 10,
    data: "moby-dick",
    tokenizer: "byte",
  };
}

type Main = (argv: string[]) => Promise<number>;

/** What one CLI command did. */
interface Ran {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Child side: run a CLI command in this process, stdout and stderr captured. */
async function command(main: Main, argv: string[]): Promise<Ran> {
  let stdout = "";
  let stderr = "";
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const capture = (into: "out" | "err") =>
    ((chunk: string | Uint8Array) => {
      const s = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
      if (into === "out") stdout += s;
      else stderr += s;
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture("out");
  process.stderr.write = capture("err");
  const start = performance.now();
  let code: number;
  try {
    code = await main(["node", "rankwise", ...argv]);
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  process.exitCode = 0; // the child reports the code; its own exit stays 0
  return { code, stdout, stderr, seconds: (performance.now() - start) / 1000 };
}

/** Child: run BENCH_CLI's commands in order, stopping at the first failure. */
async function child(argvs: string[][]): Promise<void> {
  await import("../src/engine/node-threads.js"); // before anything loads jax-js
  const { main } = await import("../src/cli/main.js");
  const ran: Ran[] = [];
  for (const argv of argvs) {
    const r = await command(main, argv);
    ran.push(r);
    if (r.code !== 0) break;
  }
  reportToParent(ran);
}

/**
 * The sources the children run: a copy of src/ and bench/ taken when the benchmark starts (with
 * node_modules linked), so that edits made to the working tree while it runs cannot change or
 * break the commands halfway through.
 */
let snapshot: string | undefined;
function takeSnapshot(): string {
  const dir = mkdtempSync(join(tmpdir(), "rankwise-bench-compression-src-"));
  for (const part of ["src", "bench", "package.json", "tsconfig.json"]) {
    cpSync(join(ROOT, part), join(dir, part), { recursive: true });
  }
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  return dir;
}

/** Parent: run CLI commands in one fresh child process (one thread) from the snapshot. */
const cli = (argvs: string[][]): Promise<Ran[]> =>
  runChild<Ran[]>(
    process.execPath,
    ["--import", "tsx", join(snapshot ?? ROOT, "bench", "compression.ts")],
    { BENCH_CLI: JSON.stringify(argvs), RANKWISE_THREADS: "1" },
  );

/** The pretrained run: cli-runs.ts's cache entry if there is one, else ours (trained now). */
async function pretrained(b: Budget): Promise<{ run: string; source: string }> {
  const settings = pretrainSettings(b);
  const hash = createHash("sha256").update(JSON.stringify(settings)).digest("hex").slice(0, 10);
  const shared = join(BENCH_DIR, ".cache", "pretrain", `${b.model}-${b.pretrainSteps}-${hash}`);
  if (existsSync(join(shared, "bench-pretrain.json"))) {
    log(`compression: reusing the pretraining run in ${shared}`);
    return { run: join(shared, "run"), source: "bench/cli-runs.ts cache" };
  }
  const dir = join(BENCH_DIR, ".cache", "compression", `${b.model}-${b.pretrainSteps}`);
  const done = join(dir, "done.json");
  const run = join(dir, "run");
  if (existsSync(done)) {
    log(`compression: reusing the pretraining run in ${dir}`);
    return { run, source: "bench/.cache/compression" };
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "settings.json"), JSON.stringify({ evalBatches: settings.evalBatches }));
  log(`compression: pretraining ${b.model} on moby-dick, ${b.pretrainSteps} steps (in ${dir})`);
  const s = settings;
  const [r] = await cli([
    [
      "train",
      ...["--model", s.model, "--data", s.data, "--tokenizer", s.tokenizer],
      ...["--optimizer", "adamw", "--lr", String(s.lr), "--steps", String(s.steps)],
      ...["--seed", String(s.seed), "--batch-size", String(s.batchSize)],
      ...["--seq-len", String(s.seqLen), "--eval-every", String(s.evalEvery)],
      ...["--config", join(dir, "settings.json"), "--log-every", String(s.logEvery)],
      ...["--warmup", String(s.warmup), "--checkpoint-every", "0", "--sample-length", "0"],
      ...["--quiet", "--out", run],
    ],
  ]);
  if (r!.code !== 0) throw new Error(`pretraining failed:\n${r!.stderr}`);
  writeFileSync(done, JSON.stringify({ settings, seconds: r!.seconds }));
  return { run, source: "trained by this benchmark" };
}

type Row = Record<string, unknown>;

async function bench(b: Budget, quick: boolean, smoke: boolean, parts: Set<string>): Promise<void> {
  const name = smoke ? "compression-smoke" : quick ? "compression-quick" : "compression";
  // Parts not asked for keep their rows from the last result file.
  const previous = (() => {
    try {
      return JSON.parse(readFileSync(join(BENCH_DIR, "results", `${name}.json`), "utf8")) as Row;
    } catch {
      return {} as Row;
    }
  })();
  const loadStart = load1();
  const started = performance.now();
  const { PRUNE_METHODS } = await import("../src/weights/prune/index.js");
  const mainSource = readFileSync(join(ROOT, "src", "cli", "main.ts"), "utf8");
  const registered = (name: string) => mainSource.includes(`.command("${name}")`);
  snapshot = takeSnapshot();
  const { run, source } = await pretrained(b);
  const work = mkdtempSync(join(tmpdir(), "rankwise-bench-compression-"));
  // Rows already measured with these settings (a run cut short) are kept, keyed by command.
  const partialPath = join(BENCH_DIR, ".cache", "compression", `${name}.partial.json`);
  const done: Record<string, Row> = (() => {
    try {
      const saved = JSON.parse(readFileSync(partialPath, "utf8")) as {
        budget: Budget;
        rows: Record<string, Row>;
      };
      return JSON.stringify(saved.budget) === JSON.stringify(b) ? saved.rows : {};
    } catch {
      return {};
    }
  })();
  const evalArgv = (dir: string) => [
    ...["eval", dir, "--data", "moby-dick", "--seq-len", "64", "--batch-size", "16"],
    ...["--eval-batches", String(b.evalBatches), "--json"],
  ];
  const scored = (r: Ran): Row => {
    const e = JSON.parse(r.stdout) as Row;
    return {
      loss: round(e.loss as number, 4),
      perplexity: round(e.perplexity as number, 4),
      sparsity: round(e.sparsity as number, 4),
      parameters: e.parameters,
      parameterBytes: e.parameterBytes,
      tokens: e.tokens,
    };
  };
  let count = 0;
  /** Make a variant with the CLI command `argv` (+ --out), score it, remove it. */
  const variant = async (label: string, argv: string[]): Promise<Row> => {
    const key = argv.join(" ");
    if (done[key] && done[key].error === undefined) {
      log(`compression: ${label}: kept from the interrupted run`);
      return done[key];
    }
    const out = join(work, `variant-${count++}`);
    try {
      const [made, ev] = await cli([[...argv, "--out", out], evalArgv(out)]);
      const failed = [made, ev].find((r) => r !== undefined && r.code !== 0);
      if (failed) {
        const error = failed.stderr.trim().split("\n").at(-1);
        log(`compression: ${label}: failed: ${error}`);
        return { error };
      }
      const row: Row = { seconds: round(made!.seconds, 2), ...scored(ev!) };
      log(`compression: ${label}: loss ${row.loss}, ${row.parameterBytes} bytes, ${row.seconds} s`);
      done[key] = row;
      mkdirSync(join(BENCH_DIR, ".cache", "compression"), { recursive: true });
      writeFileSync(partialPath, JSON.stringify({ budget: b, rows: done }));
      return row;
    } catch (error) {
      const message = (error as Error).message.split("\n")[0];
      log(`compression: ${label}: failed: ${message}`);
      return { error: message };
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  };
  const calib = ["--samples", String(b.samples), "--seq-len", String(b.calibLen)];

  try {
    const [denseRun] = await cli([evalArgv(run)]);
    if (denseRun!.code !== 0) throw new Error(`eval ${run} failed: ${denseRun!.stderr}`);
    const dense = scored(denseRun!);
    log(`compression: dense loss ${dense.loss}, ${dense.parameterBytes} bytes`);

    const pruning: Row[] = parts.has("prune") ? [] : ((previous.pruning as Row[]) ?? []);
    const methods = !parts.has("prune")
      ? []
      : smoke
        ? ["magnitude", "oba"]
        : Object.keys(PRUNE_METHODS);
    for (const method of methods) {
      const settings: { sparsity?: number; nm?: [number, number] }[] = [
        ...(smoke ? [0.5] : SPARSITIES).map((sparsity) => ({ sparsity })),
        ...(PRUNE_METHODS[method]!.nm ? PATTERNS.map((nm) => ({ nm })) : []),
      ];
      for (const s of settings) {
        const flags = s.nm ? ["--nm", `${s.nm[0]}:${s.nm[1]}`] : ["--sparsity", String(s.sparsity)];
        const label = `prune ${method} ${flags[1]}`;
        const row = await variant(label, ["prune", run, "--method", method, ...flags, ...calib]);
        pruning.push({
          method,
          target: s.nm ? s.nm[0] / s.nm[1] : s.sparsity,
          nm: s.nm ?? null,
          ...row,
        });
      }
    }

    const quantization: Row[] = parts.has("quantize")
      ? []
      : ((previous.quantization as Row[]) ?? []);
    const cfg = JSON.parse(readFileSync(join(run, "checkpoint", "config.json"), "utf8"));
    const quant = quantSettings(cfg.hidden_size, cfg.intermediate_size);
    for (const q of !parts.has("quantize") ? [] : smoke ? quant.slice(0, 2) : quant) {
      const label = `quantize ${q.method} ${q.bits}-bit ${q.groupSize ? `g${q.groupSize}` : "per row"}`;
      const row = await variant(label, [
        "quantize",
        run,
        ...["--method", q.method, "--bits", String(q.bits)],
        ...(q.groupSize ? ["--group-size", String(q.groupSize)] : []),
        ...(q.method === "gptq" ? calib : []),
      ]);
      quantization.push({ ...q, groupSize: q.groupSize ?? null, ...row });
    }

    const compression: Row[] = parts.has("compress") ? [] : ((previous.compression as Row[]) ?? []);
    if (!parts.has("compress")) {
      // kept from the last run
    } else if (registered("compress")) {
      for (const method of smoke ? COMPRESS_METHODS.slice(0, 1) : COMPRESS_METHODS) {
        for (const ratio of smoke ? [0.5] : RANK_RATIOS) {
          const argv = ["compress", run, "--method", method, "--rank-ratio", String(ratio)];
          const row = await variant(`compress ${method} ${ratio}`, argv);
          compression.push({ method, rankRatio: ratio, ...row });
        }
      }
    } else log("compression: no `rankwise compress` command yet: compression rows left out");

    const args = process.argv.slice(2);
    rmSync(partialPath, { force: true }); // complete: a later run measures afresh
    writeResult(name, {
      benchmark: "compression",
      command: ["npm run bench -- compression", ...args].join(" "),
      date: new Date().toISOString(),
      machine: machine(),
      load: { start: loadStart, end: load1() },
      threads: 1,
      quick,
      budget: b,
      pretrain: { ...pretrainSettings(b), source },
      eval: { data: "moby-dick", seqLen: 64, batchSize: 16, evalBatches: b.evalBatches },
      calibration: { samples: b.samples, seqLen: b.calibLen, seed: 0, data: "moby-dick" },
      dense,
      pruning,
      quantization,
      compression,
      minutes: round((performance.now() - started) / 60000, 1),
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(snapshot, { recursive: true, force: true });
  }
}

if (isChild()) {
  await child(JSON.parse(process.env.BENCH_CLI!) as string[][]);
  process.exit(0);
}
const { values } = parseArgs({
  options: {
    quick: { type: "boolean" },
    smoke: { type: "boolean" },
    parts: { type: "string", default: PARTS.join(",") },
  },
});
const parts = new Set(String(values.parts).split(","));
for (const p of parts) {
  if (!(PARTS as readonly string[]).includes(p)) {
    process.stderr.write(`--parts: unknown part "${p}" (accepted: ${PARTS.join(", ")})\n`);
    process.exit(2);
  }
}
const smoke = Boolean(values.smoke);
const quick = Boolean(values.quick);
await bench(smoke ? SMOKE : quick ? QUICK : FULL, quick, smoke, parts).catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});
