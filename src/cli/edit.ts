/**
 * `rankwise edit <method>`: editing a LLaMA-style model by projection (weights/edit/), written as
 * a model folder (config.json, model.safetensors, tokenizer.json, and edit.json recording what
 * was done) that eval, generate, finetune, merge and prune open.
 *
 *   edit pome    --base <model> --tuned <model> [--rank k | --energy e | --ratio r] [--scale s]
 *                [--norm mean|frobenius|spectral] [--modules <regex>] --out <dir>
 *   edit inlp    --model <model> --data <jsonl {"text","label"}> --layer L [--iterations n]
 *                [--pool mean|last] [--tolerance t] [--fold] --out <dir>
 *   edit dama    --model <model> --pairs <jsonl {"a","b"}> [--layers <list>] [--rank k] --out <dir>
 *   edit unlearn --model <model> --forget <corpus|file> --retain <corpus|file> [--steps n]
 *                [--lr x] [--rank k] [--batch-size n] [--seq-len t] [--plain] --out <dir>
 *
 * Models are run folders, model folders or Hub ids (nn/open-model.ts); texts are tokenised with
 * the model's own tokenizer. Bad input: one line naming the flag and what it accepts, exit 2.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { loadCorpus } from "../data/corpus.js";
import { tokenizerFiles } from "../data/tokenizer-file.js";
import { UsageError } from "../engine/errors.js";
import * as tree from "../engine/tree.js";
import { writeFileAtomic } from "../io/atomic.js";
import { stderrProgress } from "../io/hub.js";
import { checkOutputDir, ensureOutputDir, removeCreated } from "../io/output-dir.js";
import type { LlamaParams } from "../nn/llama.js";
import type { LlamaConfig } from "../nn/llama-config.js";
import { type OpenedModel, openModel } from "../nn/open-model.js";
import { saveModel } from "../nn/pretrained.js";
import { dama, damaDefaultLayers } from "../weights/edit/dama.js";
import { POOLS, type Pool } from "../weights/edit/hidden.js";
import { inlpModel, inlpProjectionName } from "../weights/edit/inlp-model.js";
import {
  checkPomeOptions,
  POME_DEFAULT_MODULES,
  POME_NORMS,
  type PomeNorm,
  type PomeOptions,
  pomeParams,
} from "../weights/edit/pome.js";
import { tokenWindows, unlearn } from "../weights/edit/unlearn.js";

type Flags = Record<string, string | boolean | undefined>;

/** The record written beside the weights. */
export const EDIT_RECORD = "edit.json";

function integer(flag: string, value: unknown, min: number): number {
  const n = Number(value);
  if (typeof value !== "string" || value.trim() === "" || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${flag} must be an integer ≥ ${min}, got "${value}"`);
  }
  return n;
}

function fraction(flag: string, value: unknown): number {
  const n = Number(value);
  if (typeof value !== "string" || value.trim() === "" || !(n > 0 && n <= 1)) {
    throw new UsageError(`--${flag} must be a number in (0, 1], got "${value}"`);
  }
  return n;
}

function positive(flag: string, value: unknown): number {
  const n = Number(value);
  if (typeof value !== "string" || value.trim() === "" || !(n > 0 && Number.isFinite(n))) {
    throw new UsageError(`--${flag} must be a positive number, got "${value}"`);
  }
  return n;
}

function required(opts: Flags, flag: string, what: string): string {
  const key = flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
  const v = opts[key];
  if (typeof v !== "string" || v === "") throw new UsageError(`--${flag} is required: ${what}`);
  return v;
}

function outDir(opts: Flags): string {
  const out = required(opts, "out", "a new folder for the edited model");
  if (existsSync(out) && (!statSync(out).isDirectory() || readdirSync(out).length > 0)) {
    throw new UsageError(`--out ${out} is not an empty folder: choose a new folder for the model`);
  }
  checkOutputDir(out);
  return out;
}

/** Non-empty JSON lines of a file, each an object; one line naming the file and line on error. */
function readJsonl(flag: string, path: string): Record<string, unknown>[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(
      `--${flag} ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? "error"})`,
    );
  }
  const rows: Record<string, unknown>[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      throw new UsageError(
        `--${flag} ${path} line ${i + 1} is not JSON: expected one object per line`,
      );
    }
    if (typeof row !== "object" || row === null || Array.isArray(row)) {
      throw new UsageError(`--${flag} ${path} line ${i + 1} is not a JSON object`);
    }
    rows.push(row as Record<string, unknown>);
  });
  if (rows.length === 0) throw new UsageError(`--${flag} ${path} has no JSON lines`);
  return rows;
}

function encode(model: OpenedModel, flag: string, text: string): Int32Array {
  try {
    return model.tokenizer.encode(text);
  } catch (error) {
    throw new UsageError(
      `--${flag}: a text does not fit the model's tokenizer: ${(error as Error).message.replace(/^encode: /, "")}`,
    );
  }
}

/** Write the model folder (weights, tokenizer, edit.json); a failure removes what it created. */
async function writeFolder(
  out: string,
  model: OpenedModel,
  config: LlamaConfig,
  params: LlamaParams,
  record: Record<string, unknown>,
): Promise<void> {
  const created = ensureOutputDir(out);
  try {
    await saveModel(out, { config, params });
    for (const [name, body] of Object.entries(tokenizerFiles(model.tokenizer.toJSON())))
      await writeFileAtomic(join(out, name), body);
    await writeFileAtomic(join(out, EDIT_RECORD), `${JSON.stringify(record, null, 2)}\n`);
  } catch (error) {
    removeCreated(created);
    throw error;
  }
}

function report(opts: Flags, record: Record<string, unknown>, line: string): void {
  if (opts.json) process.stdout.write(`${JSON.stringify(record)}\n`);
  else process.stdout.write(`${line}\n`);
}

export async function editPomeCommand(opts: Flags): Promise<void> {
  const baseSpec = required(opts, "base", "the model before fine-tuning");
  const tunedSpec = required(opts, "tuned", "the fine-tuned model");
  const options: PomeOptions = {};
  if (opts.rank !== undefined) options.rank = integer("rank", opts.rank, 1);
  if (opts.energy !== undefined) options.energy = fraction("energy", opts.energy);
  if (opts.ratio !== undefined) options.ratio = fraction("ratio", opts.ratio);
  if (opts.scale !== undefined) {
    const s = Number(opts.scale);
    if (String(opts.scale).trim() === "" || !Number.isFinite(s)) {
      throw new UsageError(`--scale must be a finite number, got "${opts.scale}"`);
    }
    options.scale = s;
  }
  if (opts.norm !== undefined) {
    if (!POME_NORMS.includes(opts.norm as PomeNorm)) {
      throw new UsageError(`--norm must be one of ${POME_NORMS.join(", ")}, got "${opts.norm}"`);
    }
    options.norm = opts.norm as PomeNorm;
  }
  try {
    checkPomeOptions(options);
  } catch (error) {
    throw new UsageError(
      `--${(error as Error).message.replace(/^give one of rank, energy, ratio/, "rank, --energy and --ratio exclude each other")}`,
    );
  }
  let modules = POME_DEFAULT_MODULES;
  if (opts.modules !== undefined) {
    try {
      modules = new RegExp(String(opts.modules));
    } catch {
      throw new UsageError(
        `--modules must be a regular expression over parameter names, got "${opts.modules}"`,
      );
    }
  }
  const out = outDir(opts);
  const base = await openModel(baseSpec, { onProgress: stderrProgress() });
  let tuned: OpenedModel;
  try {
    tuned = await openModel(tunedSpec, { onProgress: stderrProgress() });
  } catch (error) {
    tree.dispose(base.params);
    throw error;
  }
  const { config } = tuned;
  if (JSON.stringify(base.config) !== JSON.stringify(config)) {
    tree.dispose([base.params, tuned.params]);
    throw new UsageError(
      "--base and --tuned have different configurations: POME needs the same architecture",
    );
  }
  const matched = Object.keys(tuned.params).filter(
    (n) => tuned.params[n].ndim === 2 && modules.test(n),
  );
  if (matched.length === 0) {
    tree.dispose([base.params, tuned.params]);
    throw new UsageError(
      `--modules ${modules.source} matches no 2-D weight (e.g. mlp\\.up_proj, _proj\\.weight$)`,
    );
  }
  process.stderr.write(
    `POME on ${matched.length} weights of ${tuned.source.path} against ${base.source.path}\n`,
  );
  let result: ReturnType<typeof pomeParams>;
  try {
    result = pomeParams(base.params, tuned.params, { ...options, modules });
  } catch (error) {
    throw new UsageError(`--base/--tuned: ${(error as Error).message}`);
  }
  try {
    const record = {
      method: "pome",
      base: base.source.path,
      tuned: tuned.source.path,
      modules: modules.source,
      rank: options.rank ?? null,
      energy: options.energy ?? null,
      ratio:
        options.rank === undefined && options.energy === undefined ? (options.ratio ?? 0.5) : null,
      scale: options.scale ?? 1,
      norm: options.norm ?? "mean",
      edited: result.edited,
    };
    await writeFolder(out, tuned, config, result.params, record);
    report(opts, record, `POME edited ${matched.length} weights: ${out}`);
  } finally {
    tree.dispose(result.params);
  }
}

export async function editInlpCommand(opts: Flags): Promise<void> {
  const spec = required(opts, "model", "a run folder, model folder or Hub id");
  const dataPath = required(opts, "data", 'a JSONL file of {"text": ..., "label": ...} lines');
  const layerFlag = required(opts, "layer", "the block whose output (residual stream) is edited");
  const layer = integer("layer", layerFlag, 0);
  const iterations = opts.iterations === undefined ? 10 : integer("iterations", opts.iterations, 1);
  const pool = (opts.pool ?? "mean") as Pool;
  if (!POOLS.includes(pool))
    throw new UsageError(`--pool must be one of ${POOLS.join(", ")}, got "${opts.pool}"`);
  const tolerance =
    opts.tolerance === undefined ? undefined : fraction("tolerance", opts.tolerance);
  const rows = readJsonl("data", dataPath);
  const values: string[] = [];
  rows.forEach((row, i) => {
    const label = row.label;
    if (typeof row.text !== "string" || row.text === "") {
      throw new UsageError(`--data ${dataPath} line ${i + 1}: "text" must be a non-empty string`);
    }
    if (!["string", "number", "boolean"].includes(typeof label)) {
      throw new UsageError(
        `--data ${dataPath} line ${i + 1}: "label" must be a string, number or boolean`,
      );
    }
    values.push(JSON.stringify(label));
  });
  const classes = [...new Set(values)].sort();
  if (classes.length < 2)
    throw new UsageError(
      `--data ${dataPath} has one label (${classes[0]}): INLP needs two or more`,
    );
  if (rows.length < 10)
    throw new UsageError(
      `--data ${dataPath} has ${rows.length} texts: INLP needs at least 10 (a fifth is held out)`,
    );
  const out = outDir(opts);
  const model = await openModel(spec, { onProgress: stderrProgress() });
  const { config } = model;
  if (layer >= config.num_hidden_layers) {
    tree.dispose(model.params);
    throw new UsageError(
      `--layer must be in [0, ${config.num_hidden_layers - 1}] for this model, got ${layer}`,
    );
  }
  let texts: Int32Array[];
  try {
    texts = rows.map((r) => encode(model, "data", r.text as string));
  } catch (error) {
    tree.dispose(model.params);
    throw error;
  }
  const labels = Int32Array.from(values, (v) => classes.indexOf(v));
  process.stderr.write(
    `INLP on ${model.source.path}: ${rows.length} texts, ${classes.length} labels, residual stream after block ${layer} (${pool === "mean" ? "mean over tokens" : "last token"})${opts.fold ? ", folded into the weights" : ""}\n`,
  );
  let edited: ReturnType<typeof inlpModel>;
  try {
    edited = inlpModel(model.params, config, texts, labels, classes.length, {
      layer,
      pool,
      iterations,
      tolerance,
      fold: Boolean(opts.fold),
    });
  } catch (error) {
    // inlpModel consumed the parameters; a text the model cannot take is the data's problem.
    if (error instanceof RangeError) throw new UsageError(`--data ${dataPath}: ${error.message}`);
    throw error;
  }
  try {
    const { result } = edited;
    const record = {
      method: "inlp",
      source: model.source.path,
      layer,
      pool,
      labels: classes.map((c) => JSON.parse(c)),
      applied: result.rank === 0 ? "none" : opts.fold ? "folded" : inlpProjectionName(layer),
      removed: result.rank,
      probeAccuracies: result.accuracies,
      majority: result.majority,
    };
    await writeFolder(out, model, edited.config, edited.params, record);
    const accs = result.accuracies.map((a) => a.toFixed(3)).join(" → ");
    report(
      opts,
      record,
      `INLP removed ${result.rank} directions (cross-validated probe accuracy ${accs}; majority ${result.majority.toFixed(3)}): ${out}`,
    );
  } finally {
    tree.dispose(edited.params);
  }
}

/** "3", "2,3", "2-4" → layer numbers. */
function parseLayers(value: string, layers: number): number[] {
  const out = new Set<number>();
  for (const part of value.split(",")) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    const a = m ? Number(m[1]) : Number.NaN;
    const b = m?.[2] !== undefined ? Number(m[2]) : a;
    if (!m || a > b || b >= layers) {
      throw new UsageError(
        `--layers must list blocks in [0, ${layers - 1}] as 3, 2,3 or 2-4; got "${value}"`,
      );
    }
    for (let l = a; l <= b; l++) out.add(l);
  }
  return [...out].sort((x, y) => x - y);
}

export async function editDamaCommand(opts: Flags): Promise<void> {
  const spec = required(opts, "model", "a run folder, model folder or Hub id");
  const pairsPath = required(
    opts,
    "pairs",
    'a JSONL file of {"a": ..., "b": ...} contrastive text pairs',
  );
  const rank = opts.rank === undefined ? 1 : integer("rank", opts.rank, 1);
  const rows = readJsonl("pairs", pairsPath);
  rows.forEach((row, i) => {
    for (const k of ["a", "b"]) {
      if (typeof row[k] !== "string" || row[k] === "") {
        throw new UsageError(
          `--pairs ${pairsPath} line ${i + 1}: "${k}" must be a non-empty string`,
        );
      }
    }
  });
  const out = outDir(opts);
  const model = await openModel(spec, { onProgress: stderrProgress() });
  const { config } = model;
  let layers: number[];
  let pairs: Array<[Int32Array, Int32Array]>;
  try {
    layers =
      typeof opts.layers === "string"
        ? parseLayers(opts.layers, config.num_hidden_layers)
        : damaDefaultLayers(config.num_hidden_layers);
    pairs = rows.map((r) => [
      encode(model, "pairs", r.a as string),
      encode(model, "pairs", r.b as string),
    ]);
  } catch (error) {
    tree.dispose(model.params);
    throw error;
  }
  process.stderr.write(
    `DAMA on ${model.source.path}: ${pairs.length} pairs, down_proj of blocks ${layers.join(", ")}, ${rank} direction${rank > 1 ? "s" : ""} each\n`,
  );
  const params = model.params;
  try {
    let info: ReturnType<typeof dama>;
    try {
      info = dama(params, config, pairs, { layers, rank });
    } catch (error) {
      if (error instanceof RangeError)
        throw new UsageError(`--pairs ${pairsPath}: ${error.message}`);
      throw error;
    }
    const record = { method: "dama", source: model.source.path, rank, layers: info };
    await writeFolder(out, model, config, params, record);
    report(opts, record, `DAMA projected the down_proj of blocks ${layers.join(", ")}: ${out}`);
  } finally {
    tree.dispose(params);
  }
}

function corpusTokens(model: OpenedModel, flag: string, name: string): Int32Array {
  let text: string;
  try {
    text = loadCorpus(name).text;
  } catch (error) {
    throw new UsageError(`--${flag}: ${(error as Error).message.replace(/^corpus: /, "")}`);
  }
  return encode(model, flag, text);
}

export async function editUnlearnCommand(opts: Flags): Promise<void> {
  const spec = required(opts, "model", "a run folder, model folder or Hub id");
  const forgetName = required(opts, "forget", "the text to forget (a corpus name or a UTF-8 file)");
  const retainName = required(opts, "retain", "the text to keep (a corpus name or a UTF-8 file)");
  const steps = opts.steps === undefined ? 20 : integer("steps", opts.steps, 1);
  const lr = opts.lr === undefined ? 1e-2 : positive("lr", opts.lr);
  const rank = opts.rank === undefined ? 4 : integer("rank", opts.rank, 1);
  const batchSize = opts.batchSize === undefined ? 4 : integer("batch-size", opts.batchSize, 1);
  const seqLenFlag = opts.seqLen === undefined ? undefined : integer("seq-len", opts.seqLen, 1);
  const out = outDir(opts);
  const model = await openModel(spec, { onProgress: stderrProgress() });
  const { config } = model;
  let forget: ReturnType<typeof tokenWindows>;
  let retain: ReturnType<typeof tokenWindows>;
  const seqLen = seqLenFlag ?? Math.min(64, config.max_position_embeddings);
  try {
    if (seqLen > config.max_position_embeddings) {
      throw new UsageError(
        `--seq-len ${seqLen} is longer than the model's context (max_position_embeddings ${config.max_position_embeddings})`,
      );
    }
    const windows = (flag: string, name: string) => {
      try {
        return tokenWindows(corpusTokens(model, flag, name), seqLen);
      } catch (error) {
        if (error instanceof UsageError) throw error;
        throw new UsageError(`--${flag} ${name}: ${(error as Error).message} (lower --seq-len)`);
      }
    };
    forget = windows("forget", forgetName);
    retain = windows("retain", retainName);
  } catch (error) {
    tree.dispose(model.params);
    throw error;
  }
  process.stderr.write(
    `unlearning ${forgetName} from ${model.source.path}: ${steps} steps of gradient ascent, lr ${lr}, ${opts.plain ? "no projection (--plain)" : `orthogonal to ${rank} retain gradients of ${retainName}`}\n`,
  );
  const losses: number[] = [];
  const params = unlearn(model.params, config, forget, retain, {
    steps,
    lr,
    rank,
    batchSize,
    plain: Boolean(opts.plain),
    onStep: (_, loss) => losses.push(loss),
  });
  try {
    const record = {
      method: opts.plain ? "gradient-ascent" : "gu",
      source: model.source.path,
      forget: forgetName,
      retain: retainName,
      steps,
      lr,
      rank: opts.plain ? null : rank,
      batchSize,
      seqLen,
      forgetLoss: losses,
    };
    await writeFolder(out, model, config, params, record);
    report(
      opts,
      record,
      `unlearned in ${steps} steps (forget-batch loss ${losses[0]?.toFixed(3)} → ${losses.at(-1)?.toFixed(3)}): ${out}`,
    );
  } finally {
    tree.dispose(params);
  }
}
