/**
 * `rankwise compress <model|run> --method svd|fwsvd|welore|cur|lqer|lq-lora
 * (--rank-ratio r | --energy e) [--bits 4|8] [--group-size g] [--iterations n]
 * [--calibration <corpus|file>] [--samples n] [--seq-len t] [--seed n] --out <dir>`: low-rank
 * compression of a LLaMA-style model's decoder linear layers (weights/compress/), written as a
 * model folder whose factored layers are stored and run as two factors (nn/low-rank.ts) —
 * config.json (with the ranks), model.safetensors, tokenizer.json and compress.json recording
 * the method, ranks, parameter count, bytes and forward time before and after — that eval and
 * generate run as factors and the other commands open densified.
 *
 * --rank-ratio r keeps r·min(out, in) singular directions per matrix (WeLore: r of all of them,
 * by one threshold); --energy e the fewest keeping e of Σσ². LQER and LQ-LoRA quantise W with RTN
 * (--bits, default 4; --group-size, default a whole row) and add the factors. FWSVD needs
 * calibration (its Fisher); LQER uses it for its activation scale; calibration flags as `prune`
 * (calibration-flags.ts). Forward time: the median of 5 jit'ed forward passes of one sequence of
 * min(128, context) tokens, before and after. Bad input: one line naming the flag and what it
 * accepts, exit 2.
 */
import { join } from "node:path";
import { tokenizerFiles } from "../data/tokenizer-file.js";
import { UsageError } from "../engine/errors.js";
import * as tree from "../engine/tree.js";
import { writeFileAtomic } from "../io/atomic.js";
import { stderrProgress } from "../io/hub.js";
import { checkOutputDir, ensureOutputDir } from "../io/output-dir.js";
import { openModel } from "../nn/open-model.js";
import {
  COMPRESS_METHODS,
  compressModel,
  forwardTime,
  saveCompressedModel,
} from "../weights/compress/index.js";
import { checkQuantizeSettings } from "../weights/quantize/quantize-model.js";
import {
  calibrationFlags,
  calibrationInput,
  calibrationSeqLen,
  calibrationText,
  integerFlag,
  newOutFolder,
} from "./calibration-flags.js";

type Flags = Record<string, string | boolean | undefined>;

/** The record written beside the weights. */
export const COMPRESS_RECORD = "compress.json";

/** A number flag in (0, 1]. */
function fraction(flag: string, value: unknown): number {
  const v = Number(value);
  if (typeof value !== "string" || value.trim() === "" || !(v > 0 && v <= 1)) {
    throw new UsageError(`--${flag} must be a number in (0, 1], got "${value}"`);
  }
  return v;
}

/** The validated flags (no model needed yet). */
function parseFlags(opts: Flags) {
  const names = Object.keys(COMPRESS_METHODS).join(", ");
  if (typeof opts.method !== "string") {
    throw new UsageError(`--method is required: one of ${names}`);
  }
  if (!Object.hasOwn(COMPRESS_METHODS, opts.method)) {
    throw new UsageError(`--method must be one of ${names}; got "${opts.method}"`);
  }
  const method = COMPRESS_METHODS[opts.method]!;
  if ((opts.rankRatio === undefined) === (opts.energy === undefined)) {
    throw new UsageError(
      "give exactly one of --rank-ratio r (share of each matrix's rank, 0 < r ≤ 1) or --energy e (share of Σσ² kept, 0 < e ≤ 1)",
    );
  }
  const rule =
    opts.rankRatio !== undefined
      ? { rankRatio: fraction("rank-ratio", opts.rankRatio) }
      : { energy: fraction("energy", opts.energy) };
  const quantizing = method.keepsDense === true;
  for (const [flag, key] of [
    ["bits", "bits"],
    ["group-size", "groupSize"],
  ] as const) {
    if (opts[key] !== undefined && !quantizing) {
      throw new UsageError(
        `--${flag} applies to lqer and lq-lora only (${method.name} keeps no quantised W)`,
      );
    }
  }
  if (opts.iterations !== undefined && method.name !== "lq-lora") {
    throw new UsageError("--iterations applies to lq-lora only");
  }
  if (opts.bits !== undefined && opts.bits !== "4" && opts.bits !== "8") {
    throw new UsageError(`--bits must be 4 or 8, got "${opts.bits}"`);
  }
  const bits = (opts.bits === "8" ? 8 : 4) as 4 | 8;
  const groupSize =
    opts.groupSize === undefined ? undefined : integerFlag("group-size", opts.groupSize, 1);
  const iterations =
    opts.iterations === undefined ? undefined : integerFlag("iterations", opts.iterations, 1);
  const out = newOutFolder(opts);
  return { method, rule, bits, groupSize, iterations, out, ...calibrationFlags(opts) };
}

const describeRule = (rule: { rankRatio?: number; energy?: number }) =>
  rule.rankRatio !== undefined ? `rank ratio ${rule.rankRatio}` : `energy ${rule.energy}`;

export async function compressCommand(spec: string, opts: Flags): Promise<void> {
  const flags = parseFlags(opts);
  const { method, rule, bits, groupSize, iterations, out, samples, seed } = flags;
  checkOutputDir(out);

  const calibrated = method.needs !== "none";
  const { dataName, text } = calibrationText(spec, opts, calibrated);
  const opened = await openModel(spec, { onProgress: stderrProgress() });
  let params = opened.params;
  try {
    const { config } = opened;
    if (method.keepsDense) {
      try {
        checkQuantizeSettings(config, { method: "rtn", bits, groupSize });
      } catch (error) {
        const flag = groupSize !== undefined ? "--group-size" : "--bits";
        throw new UsageError(`${flag}: ${(error as Error).message}`);
      }
    }
    const maxPos = config.max_position_embeddings;
    const seqLen = calibrationSeqLen(flags.seqLen, maxPos);
    const calibration =
      calibrated && text !== undefined
        ? calibrationInput(opened, dataName, text, { samples, seqLen, seed })
        : undefined;
    const quant = method.keepsDense
      ? `, W as ${bits}-bit RTN (${groupSize ? `groups of ${groupSize}` : "one scale per row"})`
      : "";
    process.stderr.write(
      `compressing ${opened.source.path} with ${method.name} (${describeRule(rule)}${quant}) over ${config.num_hidden_layers} blocks${calibration ? `, calibration: ${samples} × ${seqLen} tokens of ${dataName} (seed ${seed})` : ""}\n`,
    );
    const timing = { batch: 1, seqLen: Math.min(128, maxPos), repeats: 5 };
    const forwardBefore = forwardTime(params, config, timing);
    const input = params;
    params = {}; // compressModel consumes them, also when it throws
    const result = compressModel(input, config, method, {
      ...rule,
      calibration,
      bits,
      groupSize,
      iterations,
      onFisher: (done, total) => {
        if (done % 8 === 0 || done === total) {
          process.stderr.write(`  Fisher: ${done}/${total} calibration sequences\n`);
        }
      },
      onLayer: (module, done, total) => {
        if (done % 7 === 0 || done === total) {
          process.stderr.write(`  ${done}/${total} matrices compressed (${module})\n`);
        }
      },
    });
    params = result.params;
    const forwardAfter = forwardTime(params, config, timing);
    ensureOutputDir(out);
    await saveCompressedModel(out, config, result);
    for (const [name, body] of Object.entries(tokenizerFiles(opened.tokenizer.toJSON())))
      await writeFileAtomic(join(out, name), body);
    const { parameters, bytes, layers, ...rest } = result.summary;
    const record = {
      source: opened.source.path,
      ...rest,
      calibration: calibration ? { data: dataName, samples, seqLen, seed } : null,
      parameters,
      bytes,
      forward: { ...timing, beforeMs: forwardBefore.medianMs, afterMs: forwardAfter.medianMs },
      layers,
    };
    await writeFileAtomic(join(out, COMPRESS_RECORD), `${JSON.stringify(record, null, 2)}\n`);
    if (opts.json) process.stdout.write(`${JSON.stringify(record)}\n`);
    else {
      const dense = layers.filter((l) => l.rank === null).length;
      const kept = dense > 0 ? ` (${dense} of ${layers.length} matrices stay dense)` : "";
      process.stdout.write(
        [
          `compressed with ${method.name} (${describeRule(rule)})${kept}: ${out}`,
          `  parameters ${parameters.before} → ${parameters.after}`,
          `  bytes      ${bytes.before} → ${bytes.after} (×${(bytes.before / bytes.after).toFixed(2)} smaller)`,
          `  forward    ${forwardBefore.medianMs.toFixed(1)} ms → ${forwardAfter.medianMs.toFixed(1)} ms (1 × ${timing.seqLen} tokens, median of ${timing.repeats})`,
          "",
        ].join("\n"),
      );
    }
  } finally {
    tree.dispose(params);
  }
}
